import { describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  Permit,
  Semaphore,
  SemaphoreConfigError,
  SemaphoreFullError,
  SessionClosedError,
  SessionExpiredError,
  type SemaphoreHolder,
} from '../../src/index.js';
import { eventually, useEtcd, keysUnder, waitForKeys } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { sleep, track } from '../support/promises.js';

const etcd = useEtcd();

const leaseHex = (id: string) => BigInt(id).toString(16);

describe('Semaphore', () => {
  it('stores permits in the bare key and each permit as name/<hex lease>/<nonce> on the session lease', async () => {
    const client = etcd.client();
    const session = await etcd.session(client);
    const name = `${uniquePrefix('sem')}pool`;
    const sem = new Semaphore(session, name, { permits: 3, value: 'worker-1' });
    const permit = await sem.acquire({ weight: 2 });
    expect(permit).toBeInstanceOf(Permit);
    expect(permit.weight).toBe(2);
    expect(permit.key).toMatch(new RegExp(`^${name}/${leaseHex(session.leaseId)}/\\d+$`));
    const config = (await client.get(name).exec()).kvs[0]!;
    expect(config.value.toString()).toBe('3');
    expect(config.lease).toBe('0');
    const own = (await client.get(permit.key).exec()).kvs[0]!;
    expect(own.lease).toBe(session.leaseId);
    expect(JSON.parse(own.value.toString())).toEqual({ weight: 2, value: 'worker-1' });
    expect(permit.fencingToken).toBe(BigInt(own.create_revision));
    expect(permit.isHeld).toBe(true);
    // Several permits per session: each is its own key.
    const second = await sem.acquire({ value: 'job-2' });
    expect(second.key).not.toBe(permit.key);
    expect(second.value).toBe('job-2');
    await permit.release();
    await second.release();
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
    expect(await client.get(name).string()).toBe('3'); // the configuration stays
  });

  it('never has more than 3 holders among 10 contenders (checked in etcd through permit.txn())', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('sem')}bounded`;
    const active = `${name}-active`;
    await client.put(active).value('0');
    const seen: number[] = [];
    let guardFailures = 0;

    /** Adds `delta` to the counter in a transaction guarded by the permit; returns the new count. */
    async function add(permit: Permit, delta: number): Promise<number> {
      for (;;) {
        const cur = (await client.get(active).exec()).kvs[0]!;
        const next = Number(cur.value.toString()) + delta;
        const res = await permit
          .txn()
          .and(active, 'Mod', '==', cur.mod_revision)
          .then(client.put(active).value(String(next)))
          .commit();
        if (res.succeeded) return next;
        if (!permit.isHeld) guardFailures++;
      }
    }

    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const sem = new Semaphore(await etcd.session(client), name, { permits: 3 });
        for (let round = 0; round < 3; round++) {
          const permit = await sem.acquire();
          seen.push(await add(permit, 1));
          await sleep(20);
          await add(permit, -1);
          await permit.release();
        }
      }),
    );
    expect(guardFailures).toBe(0);
    expect(seen).toHaveLength(30);
    expect(Math.max(...seen)).toBe(3); // reached the limit, never beyond it
    expect(await client.get(active).string()).toBe('0');
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  });

  it('grants permits in arrival (create revision) order', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('sem')}fifo`;
    const holders = [
      await new Semaphore(await etcd.session(client), name, { permits: 2 }).acquire(),
      await new Semaphore(await etcd.session(client), name, { permits: 2 }).acquire(),
    ];
    const order: number[] = [];
    const tokens: bigint[] = [];
    const waiters: Promise<void>[] = [];
    for (let i = 0; i < 8; i++) {
      const sem = new Semaphore(await etcd.session(client), name, { permits: 2 });
      const pending = sem.acquire();
      await waitForKeys(client, `${name}/`, i + 3, { exactly: true }); // one after another
      waiters.push(
        pending.then(async (permit) => {
          order.push(i);
          tokens.push(permit.fencingToken);
          await sleep(10);
          await permit.release();
        }),
      );
    }
    await Promise.all(holders.map((p) => p.release()));
    await Promise.all(waiters);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([...tokens].sort((a, b) => (a < b ? -1 : 1))).toEqual(tokens);
  });

  it('does not let lighter waiters overtake a heavy waiter at the head of the queue', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('sem')}weights`;
    const sem = (s: Awaited<ReturnType<typeof etcd.session>>) => new Semaphore(s, name, { permits: 3 });
    const light = await sem(await etcd.session(client)).acquire({ weight: 1 });
    const heavy = track(sem(await etcd.session(client)).acquire({ weight: 3 }));
    await waitForKeys(client, `${name}/`, 2, { exactly: true });
    const behind = track(sem(await etcd.session(client)).acquire({ weight: 1 }));
    await waitForKeys(client, `${name}/`, 3, { exactly: true });
    await sleep(300);
    // One permit is in use and two are free, yet nobody passes the heavy head.
    expect([heavy.settled(), behind.settled()]).toEqual([false, false]);
    await expect(sem(await etcd.session(client)).tryAcquire()).rejects.toBeInstanceOf(SemaphoreFullError);
    await light.release();
    const heavyPermit = await heavy.promise;
    expect(heavyPermit.weight).toBe(3);
    await sleep(200);
    expect(behind.settled()).toBe(false);
    await heavyPermit.release();
    const behindPermit = await behind.promise;
    expect(behindPermit.fencingToken).toBeGreaterThan(heavyPermit.fencingToken);
    // Light permits share: three of weight 1 hold at once.
    const more = await Promise.all([1, 2].map(async () => sem(await etcd.session(client)).acquire()));
    expect(more.every((p) => p.isHeld)).toBe(true);
    await Promise.all([behindPermit, ...more].map((p) => p.release()));
  });

  it('tryAcquire takes free permits and rejects with SemaphoreFullError otherwise, leaving no key', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('sem')}try`;
    const a = new Semaphore(await etcd.session(client), name, { permits: 2, value: 'a' });
    const b = new Semaphore(await etcd.session(client), name, { permits: 2 });
    const first = await a.tryAcquire();
    const second = await b.tryAcquire();
    const err = await b.tryAcquire().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SemaphoreFullError);
    // The facts behind the message: what is held, by whom, oldest first.
    expect(err).toMatchObject({ name: 'SemaphoreFullError', name_: name, permits: 2, used: 2 });
    expect((err as SemaphoreFullError).holders).toEqual([
      { key: first.key, weight: 1, leaseId: a.session.leaseId },
      { key: second.key, weight: 1, leaseId: b.session.leaseId },
    ]);
    expect((err as Error).message).toContain(name);
    expect((err as Error).message).toContain('2 of 2 permits');
    expect((err as Error).message).toContain('acquire()');
    expect((await keysUnder(client, `${name}/`)).sort()).toEqual([first.key, second.key].sort());
    await first.release();
    const heavy = await b.tryAcquire({ weight: 1 });
    await expect(a.tryAcquire()).rejects.toBeInstanceOf(SemaphoreFullError);
    await Promise.all([second.release(), heavy.release()]);
    const both = await a.tryAcquire({ weight: 2 });
    expect(both.weight).toBe(2);
    await both.release();
  });

  it('leaves no key when a wait is aborted or times out', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('sem')}abort`;
    const holder = await new Semaphore(await etcd.session(client), name, { permits: 1 }).acquire();
    const waiter = new Semaphore(await etcd.session(client), name, { permits: 1 });
    const err = await waiter.acquire({ signal: AbortSignal.timeout(300) }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
    expect(await keysUnder(client, `${name}/`)).toEqual([holder.key]);
    const controller = new AbortController();
    const pending = waiter.acquire({ signal: controller.signal });
    await waitForKeys(client, `${name}/`, 2, { exactly: true });
    controller.abort(new Error('no longer needed'));
    await expect(pending).rejects.toThrow('no longer needed');
    expect(await keysUnder(client, `${name}/`)).toEqual([holder.key]);
    await expect(waiter.acquire({ signal: AbortSignal.abort(new Error('early')) })).rejects.toThrow('early');
    expect(await keysUnder(client, `${name}/`)).toEqual([holder.key]);
    await holder.release();
  });

  it('gives a crashed holder’s permit back once its lease expires', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('sem')}crash`;
    const crashed = await etcd.session(client, { ttl: 2 });
    const lost = await new Semaphore(crashed, name, { permits: 1 }).acquire();
    const waiter = track(new Semaphore(await etcd.session(client), name, { permits: 1 }).acquire());
    await waitForKeys(client, `${name}/`, 2, { exactly: true });
    crashed.orphan(); // the process "dies": no more renewals, no revoke
    const orphanedAt = Date.now();
    expect(lost.signal.reason).toBeInstanceOf(SessionClosedError);
    await sleep(500);
    expect(waiter.settled()).toBe(false); // the lease still lives on the server
    const permit = await waiter.promise;
    const waited = Date.now() - orphanedAt;
    expect(waited).toBeGreaterThan(1000);
    expect(waited).toBeLessThan(5000);
    expect(await keysUnder(client, `${name}/`)).toEqual([permit.key]);
    await permit.release();
  });

  it('fails a waiter whose lease is revoked at once and promotes the next one', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('sem')}revoked`;
    const holder = await new Semaphore(await etcd.session(client), name, { permits: 1 }).acquire();
    const doomed = await etcd.session(client, { ttl: 30 });
    const first = track(new Semaphore(doomed, name, { permits: 1 }).acquire());
    await waitForKeys(client, `${name}/`, 2, { exactly: true });
    const second = track(new Semaphore(await etcd.session(client), name, { permits: 1 }).acquire());
    await waitForKeys(client, `${name}/`, 3, { exactly: true });
    await etcd.client().leaseClient.leaseRevoke({ ID: doomed.leaseId });
    await expect(first.promise).rejects.toBeInstanceOf(SessionExpiredError);
    await holder.release();
    const permit = await second.promise;
    expect(permit.isHeld).toBe(true);
    await permit.release();
  });

  it('rejects a participant configured with other permits with SemaphoreConfigError, writing nothing', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('sem')}config`;
    const permit = await new Semaphore(await etcd.session(client), name, { permits: 3 }).acquire();
    const rev = (await client.get(name).exec()).kvs[0]!.mod_revision;
    const other = new Semaphore(await etcd.session(client), name, { permits: 5 });
    const err = await other.acquire().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SemaphoreConfigError);
    expect((err as Error).message).toContain('3 permits in etcd');
    expect((err as Error).message).toContain('created with 5 permits');
    expect((err as Error).message).toContain(`delete the key "${name}"`);
    await expect(other.tryAcquire()).rejects.toBeInstanceOf(SemaphoreConfigError);
    expect(await keysUnder(client, `${name}/`)).toEqual([permit.key]);
    expect((await client.get(name).exec()).kvs[0]!.mod_revision).toBe(rev);
    await permit.release();

    const garbled = `${uniquePrefix('sem')}garbled`;
    await client.put(garbled).value('three');
    await expect(
      new Semaphore(await etcd.session(client), garbled, { permits: 3 }).acquire(),
    ).rejects.toThrow(/has "three" in etcd/);
    expect(await keysUnder(client, `${garbled}/`)).toEqual([]);
  });

  it('rejects bad input with InvalidArgumentError', async () => {
    const session = await etcd.session();
    const name = `${uniquePrefix('sem')}input`;
    for (const permits of [0, -1, 1.5, Number.NaN, Infinity, '3', undefined]) {
      expect(() => new Semaphore(session, name, { permits: permits as number })).toThrow(
        InvalidArgumentError,
      );
    }
    expect(() => new Semaphore(session, name, undefined as unknown as { permits: number })).toThrow(
      InvalidArgumentError,
    );
    for (const bad of ['', 'pools/', 42]) {
      expect(() => new Semaphore(session, bad as string, { permits: 1 })).toThrow(InvalidArgumentError);
    }
    const sem = new Semaphore(session, name, { permits: 3 });
    for (const weight of [0, -1, 4, 1.5, Number.NaN]) {
      await expect(sem.acquire({ weight })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(sem.tryAcquire({ weight })).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(sem.acquire({ value: 7 as unknown as string })).rejects.toBeInstanceOf(InvalidArgumentError);
    const err = await sem.acquire({ weight: 4 }).catch((e: unknown) => e);
    expect((err as Error).message).toContain('from 1 to its 3 permits');
    // Validation happens before anything is written.
    expect(await session.client.get(name).string()).toBeNull();
  });

  it('holders$ reports the holders, oldest first, on every change, and stops on unsubscribe', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('sem')}holders`;
    const sem = (s: Awaited<ReturnType<typeof etcd.session>>, value: string) =>
      new Semaphore(s, name, { permits: 3, value });
    const watcher = sem(await etcd.session(etcd.client()), 'observer');
    const emissions: SemaphoreHolder[][] = [];
    const subscription = watcher.holders$.subscribe((h) => emissions.push(h));
    const summary = () => emissions.map((h) => h.map((x) => `${x.value}:${x.weight}`).join(','));
    await eventually(() => emissions.length === 1, 5000, 'the initial emission');
    expect(emissions[0]).toEqual([]);

    const a = await sem(await etcd.session(client), 'a').acquire();
    const b = await sem(await etcd.session(client), 'b').acquire({ weight: 2 });
    const c = track(sem(await etcd.session(client), 'c').acquire({ weight: 2 }));
    await waitForKeys(client, `${name}/`, 3, { exactly: true });
    await eventually(() => summary().at(-1) === 'a:1,b:2', 5000, 'a and b to hold');
    expect(emissions.at(-1)![0]).toEqual({
      key: a.key,
      value: 'a',
      weight: 1,
      leaseId: a.session.leaseId,
      createRevision: a.fencingToken,
    });
    await a.release();
    await eventually(() => summary().at(-1) === 'b:2', 5000, 'b alone (c needs 2 more)');
    await b.release();
    const permitC = await c.promise;
    await eventually(() => summary().at(-1) === 'c:2', 5000, 'c to hold');
    expect(summary()).toEqual(['', 'a:1', 'a:1,b:2', 'b:2', 'c:2']);

    subscription.unsubscribe();
    const count = emissions.length;
    await permitC.release();
    await sleep(200);
    expect(emissions).toHaveLength(count);
  });

  it('await using releases the permit at scope end', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('sem')}using`;
    const sem = new Semaphore(await etcd.session(client), name, { permits: 1 });
    {
      await using permit = await sem.acquire();
      expect(permit.isHeld).toBe(true);
      expect(await keysUnder(client, `${name}/`)).toEqual([permit.key]);
    }
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  });

  it('aborts permit.signal and stops permit.txn() from committing once the lease is gone', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('sem')}lost`;
    const session = await etcd.session(client, { ttl: 30 });
    const permit = await new Semaphore(session, name, { permits: 2 }).acquire();
    const guarded = `${name}-data`;
    expect((await permit.txn().then(client.put(guarded).value('1')).commit()).succeeded).toBe(true);
    await etcd.client().leaseClient.leaseRevoke({ ID: session.leaseId });
    await new Promise((resolve) => permit.signal.addEventListener('abort', resolve, { once: true }));
    expect(permit.signal.reason).toBeInstanceOf(SessionExpiredError);
    expect((await permit.txn().then(client.put(guarded).value('2')).commit()).succeeded).toBe(false);
    expect(await client.get(guarded).string()).toBe('1');
  });
});
