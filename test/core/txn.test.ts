/**
 * txn() (src/etcd/txn.ts) against a real etcd: it takes the lean path (its own codec, the channel
 * etcd3 already uses) on createClient's clients and on a plain `new Etcd3`, and everything a caller
 * can observe is what `client.kv.txn` gives: the answers, etcd's refusals (same error class, same
 * message, same translated error), the deadline of a frozen etcd, the failover when the
 * connection to one of two endpoints is lost, a reply lost with its connection. Each comparison
 * runs the same request on both paths: a client made with `useEtcd3Txn` takes etcd3's.
 *
 * A private etcd: one test freezes it.
 */
import { Etcd3, EtcdLeaseInvalidError, GRPCDeadlineExceededError, isRecoverableError } from 'etcd3';
import { describe, expect, it, vi } from 'vitest';
import { translateError } from '../../src/etcd/etcd-errors.js';
import type { ClientOptions } from '../../src/etcd/client.js';
import { prefixRangeEnd } from '../../src/etcd/kv.js';
import { txn, type TxnRequest, type TxnResult, useEtcd3Txn } from '../../src/etcd/txn.js';
import { usePrivateEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { startProxy } from '../support/proxy.js';

const etcd = usePrivateEtcd();

/** Two clients with the same options: the lean path and etcd3's. */
function bothPaths(options: ClientOptions = {}) {
  const lean = etcd.client(options);
  const etcd3 = etcd.client(options);
  useEtcd3Txn(etcd3);
  return { lean, etcd3 };
}

/** The outcome of a call: its value, or its error's class and message. */
async function outcome<T>(promise: Promise<T>) {
  try {
    return { value: await promise };
  } catch (err) {
    return { error: (err as Error).constructor.name, message: (err as Error).message };
  }
}

const b = (s: string) => Buffer.from(s);

describe('txn() on a real etcd', () => {
  it('takes the lean path on createClient’s clients and on a plain new Etcd3: client.kv.txn is never called', async () => {
    const plain = new Etcd3({ hosts: etcd.cluster().endpoints });
    etcd.defer(() => {
      plain.close();
    });
    const prefix = uniquePrefix('txn');
    for (const [label, client] of [
      ['createClient', etcd.client()],
      ['new Etcd3', plain],
    ] as const) {
      const spy = vi.spyOn(client.kv, 'txn');
      const lease = await client.lease(30, { autoKeepAlive: false }).grant();
      const key = b(`${prefix}${label}`);
      const res = await txn(client, {
        compare: [{ key, target: 'Create', result: 'Equal', operand: 0n }],
        success: [{ kind: 'put', key, value: b('v'), lease: BigInt(lease) }],
        failure: [],
      });
      expect(spy).not.toHaveBeenCalled();
      expect(res.succeeded).toBe(true);
      const stored = (await client.get(key.toString()).exec()).kvs[0]!;
      expect(stored.value.toString()).toBe('v');
      expect(stored.lease).toBe(lease);
      expect(BigInt(stored.create_revision)).toBe(res.revision);
      await client.leaseClient.leaseRevoke({ ID: lease });
    }
  });

  it('answers a transaction exactly as client.kv.txn does', async () => {
    const { lean, etcd3 } = bothPaths();
    const prefix = uniquePrefix('txn');
    const lease = await lean.lease(30, { autoKeepAlive: false }).grant();
    for (const name of ['c', 'a', 'd', 'b'])
      await lean.put(`${prefix}${name}`).value(`value-${name}`).lease(lease);
    await lean.put(`${prefix}a`).value('again');
    const range = { kind: 'range', key: b(prefix), rangeEnd: prefixRangeEnd(prefix) } as const;
    // Read-only, so both paths see the same revision: every compare target, every range option.
    const requests: TxnRequest[] = [
      {
        compare: [
          { key: b(`${prefix}a`), target: 'Version', result: 'Equal', operand: 2n },
          { key: b(`${prefix}b`), target: 'Value', result: 'Equal', operand: b('value-b') },
          { key: b(`${prefix}c`), target: 'Lease', result: 'Equal', operand: BigInt(lease) },
          { key: b(`${prefix}d`), target: 'Mod', result: 'Greater', operand: 0n },
          { key: b(`${prefix}zz`), target: 'Create', result: 'Equal', operand: 0n },
        ],
        success: [
          { ...range, sortTarget: 'Create', sortOrder: 'Ascend', limit: 2n },
          { ...range, sortTarget: 'Key', sortOrder: 'Descend', keysOnly: true },
          { ...range, sortTarget: 'Mod', sortOrder: 'Descend' },
          { kind: 'range', key: b(`${prefix}nothing`) },
        ],
        failure: [],
      },
      {
        compare: [{ key: b(`${prefix}a`), target: 'Value', result: 'NotEqual', operand: b('again') }],
        success: [],
        failure: [
          { ...range, limit: 1n },
          { kind: 'range', key: b(`${prefix}b`) },
        ],
      },
    ];
    for (const req of requests) {
      const ours = await txn(lean, req);
      expect(ours).toEqual(await txn(etcd3, req));
      expect(ours.responses.length).toBeGreaterThan(0);
    }
    // Writes: the same effects (deleted counts, failed guards) on both paths.
    for (const client of [lean, etcd3]) {
      const deleted = await txn(client, {
        compare: [{ key: b(`${prefix}zz`), target: 'Create', result: 'Equal', operand: 0n }],
        success: [{ kind: 'deleteRange', key: b(`${prefix}d`) }],
        failure: [],
      });
      expect(deleted.responses).toEqual([{ kind: 'deleteRange', deleted: client === lean ? 1n : 0n }]);
    }
    await lean.leaseClient.leaseRevoke({ ID: lease });
  });

  it('reports etcd’s refusals as client.kv.txn does: the same error class, message and translated error', async () => {
    const { lean, etcd3 } = bothPaths();
    const key = b(`${uniquePrefix('txn')}k`);
    const refused: [string, TxnRequest][] = [
      [
        'a lease that does not exist',
        { compare: [], success: [{ kind: 'put', key, value: b('v'), lease: 0x1234567n }], failure: [] },
      ],
      [
        'the same key twice',
        {
          compare: [],
          success: [
            { kind: 'put', key, value: b('1') },
            { kind: 'put', key, value: b('2') },
          ],
          failure: [],
        },
      ],
      ['an empty key', { compare: [], success: [{ kind: 'put', key: b(''), value: b('v') }], failure: [] }],
    ];
    for (const [what, req] of refused) {
      const ours = await outcome(txn(lean, req));
      const theirs = await outcome(txn(etcd3, req));
      expect(ours.error, what).toBeDefined();
      expect(ours, what).toEqual(theirs);
      const translated = await outcome(
        txn(lean, req).catch((err: unknown) => Promise.reject(translateError(err, lean))),
      );
      const translatedTheirs = await outcome(
        txn(etcd3, req).catch((err: unknown) => Promise.reject(translateError(err, etcd3))),
      );
      expect(translated, what).toEqual(translatedTheirs);
    }
    await expect(txn(lean, refused[0]![1])).rejects.toBeInstanceOf(EtcdLeaseInvalidError);
  });

  it('fails at the client’s deadline when etcd is frozen, with etcd3’s GRPCDeadlineExceededError', async () => {
    const { lean, etcd3 } = bothPaths({ callTimeoutMs: 500 });
    const req: TxnRequest = { compare: [], success: [{ kind: 'range', key: b('warm-up') }], failure: [] };
    await Promise.all([txn(lean, req), txn(etcd3, req)]);
    const member = etcd.cluster().members[0]!;
    member.pause();
    try {
      for (const client of [lean, etcd3]) {
        const started = performance.now();
        await expect(txn(client, req)).rejects.toBeInstanceOf(GRPCDeadlineExceededError);
        const ms = performance.now() - started;
        expect(ms).toBeGreaterThanOrEqual(450);
        expect(ms).toBeLessThan(2000);
      }
    } finally {
      member.resume();
    }
  });

  it('goes on through the other endpoint once the connection to one of two is lost, as etcd3’s path does', async () => {
    const target = etcd.cluster().endpoints[0]!;
    const [first, second] = await Promise.all([startProxy(target), startProxy(target)]);
    etcd.defer(async () => {
      await Promise.all([first.close(), second.close()]);
    });
    const { lean, etcd3 } = bothPaths({ endpoints: [first.endpoint, second.endpoint] });
    const prefix = uniquePrefix('txn');
    const put = (client: Etcd3, i: number): Promise<TxnResult> =>
      txn(client, {
        compare: [],
        success: [{ kind: 'put', key: b(`${prefix}${i}`), value: b('v') }],
        failure: [],
      });
    const failures = { lean: 0, etcd3: 0 };
    for (const [path, client] of [
      ['lean', lean],
      ['etcd3', etcd3],
    ] as const) {
      for (const [lost, kept] of [
        [first, second],
        [second, first],
      ] as const) {
        kept.restore();
        // Both endpoints connected (etcd3 sends each call to a random one), then one connection lost.
        for (let i = 0; i < 10; i++) await put(client, i);
        lost.cut();
        // A call already written to the dropped connection may have run: that one fails on both
        // paths (the next test). Once the client has seen the connection go, none may fail.
        await new Promise((resolve) => setTimeout(resolve, 200));
        for (let i = 0; i < 20; i++) await put(client, i).catch(() => failures[path]++);
      }
    }
    console.log(
      `one of two connections lost: failed calls lean ${failures.lean}/40, etcd3 ${failures.etcd3}/40`,
    );
    expect(failures).toEqual({ lean: 0, etcd3: 0 });
  });

  it('fails a call whose reply is lost with its connection as etcd3’s path does (a recoverable error)', async () => {
    const proxy = await startProxy(etcd.cluster().endpoints[0]!);
    etcd.defer(() => proxy.close());
    const { lean, etcd3 } = bothPaths({ endpoints: [proxy.endpoint] });
    const key = b(`${uniquePrefix('txn')}k`);
    const errors: { name: string; recoverable: boolean }[] = [];
    for (const client of [lean, etcd3]) {
      await txn(client, { compare: [], success: [{ kind: 'range', key }], failure: [] });
      const call = txn(client, { compare: [], success: [{ kind: 'put', key, value: b('v') }], failure: [] });
      const lost = proxy.loseReplies(300);
      const err = await call.then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      await lost;
      proxy.restore();
      expect(err).toBeDefined();
      errors.push({ name: err!.constructor.name, recoverable: isRecoverableError(err!) });
    }
    expect(errors[0]).toEqual(errors[1]);
    expect(errors[0]!.recoverable).toBe(true);
  });

  it('takes client.kv.txn on a mocked client, with the answer converted', async () => {
    const client = etcd.client();
    const exec = vi.fn(() =>
      Promise.resolve({
        header: { revision: '42' },
        succeeded: true,
        responses: [{ response_range: { kvs: [], more: false, count: '0' } }],
      }),
    );
    client.mock({ exec } as unknown as Parameters<Etcd3['mock']>[0]);
    try {
      const res = await txn(client, { compare: [], success: [{ kind: 'range', key: b('k') }], failure: [] });
      expect(res).toEqual({
        revision: 42n,
        succeeded: true,
        responses: [{ kind: 'range', kvs: [], more: false, count: 0n }],
      });
      expect(exec).toHaveBeenCalledWith(
        'KV',
        'txn',
        expect.objectContaining({ success: [{ request_range: { key: b('k') } }] }),
      );
    } finally {
      client.unmock();
    }
  });
});
