import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, StmConflictError, stm, type StmIsolation } from '../../src/index.js';
import { useEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';

const etcd = useEtcd();

const LEVELS: StmIsolation[] = ['serializable-snapshot', 'serializable', 'repeatable-reads'];

describe('stm', () => {
  it('commits a put of a new key; what apply returns is the result', async () => {
    const client = etcd.client();
    const p = uniquePrefix('stm');
    const result = await stm(client, (tx) => {
      tx.put(`${p}foo`, 'bar');
      return 42;
    });
    expect(result).toBe(42);
    expect(await client.get(`${p}foo`).string()).toBe('bar');
  });

  for (const isolation of LEVELS) {
    it(`keeps the sum of five accounts under 5 concurrent random transfers (${isolation})`, async () => {
      const client = etcd.client();
      const p = uniquePrefix('stm');
      const accounts = [0, 1, 2, 3, 4].map((i) => `${p}acct-${i}`);
      for (const a of accounts) await client.put(a).value('100');
      let conflicts = 0;
      const transfer = async (n: number) => {
        for (let round = 0; round < 4; round++) {
          const from = accounts[(n + round) % 5]!;
          const to = accounts[(n + round + 1 + (round % 3)) % 5]!;
          let attempts = 0;
          await stm(
            client,
            async (tx) => {
              if (++attempts > 1) conflicts++;
              const a = Number(await tx.get(from, to)); // both read in one round trip
              const b = Number(await tx.get(to));
              const amount = Math.floor(a / 2);
              tx.put(from, String(a - amount));
              tx.put(to, String(b + amount));
            },
            { isolation, maxRetries: 50 },
          );
        }
      };
      // Five clients, as five processes would be; they all hit the same keys at once.
      const clients = [0, 1, 2, 3, 4].map(() => etcd.client());
      await Promise.all(clients.map((_, n) => transfer(n)));
      const balances = await Promise.all(accounts.map(async (a) => Number(await client.get(a).string())));
      expect(balances.reduce((x, y) => x + y, 0)).toBe(500);
      // The test only means something if the transfers actually collided.
      expect(conflicts).toBeGreaterThan(0);
    });
  }

  it('read-committed compares nothing: a concurrent change of a read key does not stop the commit', async () => {
    const client = etcd.client();
    const p = uniquePrefix('stm');
    await client.put(`${p}a`).value('1');
    let runs = 0;
    await stm(
      client,
      async (tx) => {
        runs++;
        const a = await tx.get(`${p}a`);
        await client.put(`${p}a`).value('changed');
        tx.put(`${p}b`, `saw ${a}`);
      },
      { isolation: 'read-committed' },
    );
    expect(runs).toBe(1);
    expect(await client.get(`${p}b`).string()).toBe('saw 1');
  });

  it('serializable readers never see a half-applied multi-key write', async () => {
    const client = etcd.client();
    const p = uniquePrefix('stm');
    const keys = [0, 1, 2, 3, 4].map((i) => `${p}k-${i}`);
    for (const k of keys) await client.put(k).value('0');
    let writing = true;
    const writer = (async () => {
      const w = etcd.client();
      for (let round = 1; round <= 5; round++) {
        await stm(w, (tx) => {
          for (const k of keys) tx.put(k, String(round));
        });
      }
      writing = false;
    })();
    const seen: string[][] = [];
    const reader = async () => {
      const r = etcd.client();
      while (writing) {
        // One key per read: each read is its own round trip, so the writer can commit between
        // them; the snapshot must hide that.
        const values = await stm(
          r,
          async (tx) => {
            const out: string[] = [];
            for (const k of keys) out.push(await tx.get(k));
            return out;
          },
          { isolation: 'serializable' },
        );
        seen.push(values);
      }
    };
    await Promise.all([writer, reader(), reader()]);
    expect(seen.length).toBeGreaterThan(0);
    for (const values of seen) expect(new Set(values).size, values.join(',')).toBe(1);
  });

  it('serializable pins later reads to the first read; repeatable-reads reads what is current', async () => {
    const client = etcd.client();
    const p = uniquePrefix('stm');
    await client.put(`${p}a`).value('a0');
    await client.put(`${p}b`).value('b0');
    const run = async (isolation: StmIsolation) => {
      await client.put(`${p}b`).value('b0');
      const seen: string[] = [];
      await stm(
        client,
        async (tx) => {
          await tx.get(`${p}a`);
          if (seen.length === 0) await client.put(`${p}b`).value('b1'); // only in the first attempt
          seen.push(await tx.get(`${p}b`));
        },
        { isolation },
      );
      return seen;
    };
    // Serializable reads b as of a's snapshot (b0); b changed since, so the commit conflicts and
    // the second attempt, on a new snapshot, reads b1.
    expect(await run('serializable')).toEqual(['b0', 'b1']);
    // Repeatable-reads reads b as it is (b1), which is what it compares at commit: no conflict.
    expect(await run('repeatable-reads')).toEqual(['b1']);
  });

  it('runs apply again when a read key is deleted before commit (repeatable-reads)', async () => {
    const client = etcd.client();
    const p = uniquePrefix('stm');
    await client.put(`${p}foo`).value('bar');
    let runs = 0;
    await stm(
      client,
      async (tx) => {
        runs++;
        await tx.get(`${p}foo`);
        if (runs === 1) await client.delete().key(`${p}foo`);
        tx.put(`${p}foo2`, 'bar2');
      },
      { isolation: 'repeatable-reads' },
    );
    expect(runs).toBe(2);
    expect(await client.get(`${p}foo2`).string()).toBe('bar2');
  });

  it('serializable-snapshot: reading an older key and writing another commits, twice in a row', async () => {
    const client = etcd.client();
    const p = uniquePrefix('stm');
    await client.put(`${p}a`).value('a');
    for (let i = 0; i < 2; i++) {
      let tries = 0;
      await stm(client, async (tx) => {
        tries++;
        await tx.get(`${p}a`);
        tx.put(`${p}b`, String(i));
      });
      expect(tries).toBeLessThanOrEqual(2);
    }
    const b = (await client.get(`${p}b`).exec()).kvs[0]!;
    expect(b.version).toBe('2');
  });

  it('serializable-snapshot also compares written keys; serializable does not', async () => {
    const client = etcd.client();
    const p = uniquePrefix('stm');
    await client.put(`${p}a`).value('a');
    const run = async (isolation: StmIsolation) => {
      let runs = 0;
      await stm(
        client,
        async (tx) => {
          runs++;
          await tx.get(`${p}a`);
          // Someone else writes b after our snapshot, before we (blindly) write it.
          if (runs === 1) await client.put(`${p}b`).value('other');
          tx.put(`${p}b`, isolation);
        },
        { isolation },
      );
      return runs;
    };
    expect(await run('serializable-snapshot')).toBe(2);
    expect(await run('serializable')).toBe(1);
    expect(await client.get(`${p}b`).string()).toBe('serializable');
  });

  it('an apply that throws rejects with its error and commits nothing', async () => {
    const client = etcd.client();
    const p = uniquePrefix('stm');
    const boom = new Error('boom');
    await expect(
      stm(client, (tx) => {
        tx.put(`${p}foo`, 'bar');
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await client.get(`${p}foo`).string()).toBeNull();
  });

  it('an STM aborted inside apply rejects with the reason and commits nothing', async () => {
    const client = etcd.client();
    const p = uniquePrefix('stm');
    const controller = new AbortController();
    const reason = new Error('stop');
    await expect(
      stm(
        client,
        async (tx) => {
          tx.put(`${p}foo`, 'bar');
          controller.abort(reason);
          await tx.get(`${p}other`);
        },
        { signal: controller.signal },
      ),
    ).rejects.toBe(reason);
    // Aborted after the last read: still nothing is sent.
    const late = new AbortController();
    await expect(
      stm(
        client,
        (tx) => {
          tx.put(`${p}foo`, 'bar');
          late.abort(reason);
        },
        { signal: late.signal },
      ),
    ).rejects.toBe(reason);
    expect(await client.get(`${p}foo`).string()).toBeNull();
  });

  it('gives up after maxRetries conflicts with StmConflictError naming the attempts and keys', async () => {
    const client = etcd.client();
    const p = uniquePrefix('stm');
    await client.put(`${p}hot`).value('0');
    let runs = 0;
    const err: unknown = await stm(
      client,
      async (tx) => {
        runs++;
        const v = Number(await tx.get(`${p}hot`));
        await client.put(`${p}hot`).value(String(v + 1000)); // every attempt loses to this
        tx.put(`${p}hot`, String(v + 1));
      },
      { maxRetries: 3 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StmConflictError);
    const conflict = err as StmConflictError;
    expect(conflict.attempts).toBe(4);
    expect(conflict.conflicts).toBe(4);
    expect(conflict.keys).toEqual([`${p}hot`]);
    expect(conflict.message).toMatch(/4 attempt/);
    expect(runs).toBe(4);
    expect(await client.get(`${p}hot`).string()).toBe('4000'); // none of ours committed
  });

  it('a signal aborts the backoff between conflicting attempts', async () => {
    const client = etcd.client();
    const p = uniquePrefix('stm');
    await client.put(`${p}hot`).value('0');
    const controller = new AbortController();
    let runs = 0;
    const pending = stm(
      client,
      async (tx) => {
        runs++;
        await tx.get(`${p}hot`);
        await client.put(`${p}hot`).value(String(runs));
        if (runs === 3) controller.abort(new Error('enough'));
        tx.put(`${p}mine`, 'x');
      },
      { signal: controller.signal, maxRetries: 100 },
    );
    await expect(pending).rejects.toThrow('enough');
    expect(runs).toBe(3);
    expect(await client.get(`${p}mine`).string()).toBeNull();
  });

  it('tx.rev reports the mod revision read, getBuffer the bytes, put can attach a lease, delete deletes', async () => {
    const client = etcd.client();
    const p = uniquePrefix('stm');
    const put = await client
      .put(`${p}a`)
      .value(Buffer.from([1, 2, 3]))
      .exec();
    await client.put(`${p}gone`).value('x');
    const lease = client.lease(10, { autoKeepAlive: false });
    const leaseId = await lease.grant();
    try {
      const out = await stm(client, async (tx) => {
        const bytes = await tx.getBuffer(`${p}a`, `${p}missing`);
        expect(() => tx.rev(`${p}never-read`)).toThrow(InvalidArgumentError);
        tx.put(`${p}leased`, 'v', { lease: leaseId });
        tx.delete(`${p}gone`);
        const readBack = await tx.get(`${p}gone`); // the write set wins
        return { bytes, rev: tx.rev(`${p}a`), missing: tx.rev(`${p}missing`), readBack };
      });
      expect([...out.bytes]).toEqual([1, 2, 3]);
      expect(out.rev).toBe(BigInt(put.header.revision));
      expect(out.missing).toBe(0n);
      expect(out.readBack).toBe('');
      expect((await client.get(`${p}leased`).exec()).kvs[0]!.lease).toBe(leaseId);
      expect(await client.get(`${p}gone`).string()).toBeNull();
    } finally {
      await lease.revoke();
    }
  });

  it('prefetch reads its keys before apply, into the read set; a missing key reads as empty', async () => {
    const client = etcd.client();
    const p = uniquePrefix('stm');
    const put = await client.put(`${p}x`).value('1').exec();
    const seen = await stm(
      client,
      async (tx) => {
        // Already read: rev() knows it without a get.
        const rev = tx.rev(`${p}x`);
        return [rev, await tx.get(`${p}x`), await tx.get(`${p}y`)];
      },
      { prefetch: [`${p}x`, `${p}y`] },
    );
    expect(seen).toEqual([BigInt(put.header.revision), '1', '']);
  });

  it('refuses bad arguments with InvalidArgumentError', async () => {
    const client = etcd.client();
    await expect(stm(client, () => 1, { maxRetries: -1 })).rejects.toThrow(InvalidArgumentError);
    await expect(stm(client, () => 1, { isolation: 'snapshot' as unknown as StmIsolation })).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(stm(client, (tx) => tx.get(''))).rejects.toThrow(InvalidArgumentError);
  });
});
