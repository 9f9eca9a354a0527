/**
 * txn()'s lean path (src/etcd/txn.ts) on a TLS etcd with auth: it rides the client's own
 * TLS channel and auth token, is refused outside the user's prefix exactly as etcd3's path is,
 * and renews an expired token as etcd3's path does (one Authenticate, the call goes through).
 */
import type { Etcd3 } from 'etcd3';
import { describe, expect, it, vi } from 'vitest';
import { translateError } from '../../src/etcd/etcd-errors.js';
import { txn, type TxnRequest, useEtcd3Txn } from '../../src/etcd/txn.js';
import { PermissionDeniedError } from '../../src/index.js';
import { collectOutputs, countAuthentications, sleep, useSecureEtcd } from './fixture.js';

/** Simple tokens expire after this many idle seconds on a member. */
const TOKEN_TTL_S = 2;

const etcd = useSecureEtcd({ tokenTtlSeconds: TOKEN_TTL_S });
const outputs = collectOutputs(() => {
  const { auth } = etcd.credentials();
  return [auth.user.password, auth.root.password];
});

/** The limited user's client on the lean path and on etcd3's. */
function bothPaths(): { lean: Etcd3; etcd3: Etcd3 } {
  const lean = etcd.user();
  const etcd3 = etcd.user();
  useEtcd3Txn(etcd3);
  return { lean, etcd3 };
}

const put = (key: string, value: string): TxnRequest => ({
  compare: [{ key: Buffer.from(key), target: 'Create', result: 'Equal', operand: 0n }],
  success: [{ kind: 'put', key: Buffer.from(key), value: Buffer.from(value) }],
  failure: [{ kind: 'range', key: Buffer.from(key) }],
});

describe('txn() on a TLS etcd with auth', () => {
  it('takes the lean path, with the client’s TLS channel and auth token', async () => {
    const { lean } = bothPaths();
    const spy = vi.spyOn(lean.kv, 'txn');
    const key = etcd.name('lean');
    const res = await txn(lean, put(key, 'v'));
    expect(res.succeeded).toBe(true);
    expect(spy).not.toHaveBeenCalled();
    expect(await etcd.root().get(key).string()).toBe('v');
  });

  it('is refused outside the user’s prefix as etcd3’s path is: the same error, the same PermissionDeniedError', async () => {
    const { lean, etcd3 } = bothPaths();
    const key = `forbidden/${etcd.name('txn')}`;
    const refusals = await Promise.all(
      [lean, etcd3].map(async (client) => {
        const err = outputs.error((await txn(client, put(key, 'v')).catch((e: unknown) => e)) as Error);
        const typed = translateError(err, client, key);
        return {
          name: err.constructor.name,
          message: err.message,
          typed: typed.constructor.name,
          text: typed.message,
        };
      }),
    );
    expect(refusals[0]).toEqual(refusals[1]);
    expect(refusals[0]!.typed).toBe(PermissionDeniedError.name);
  });

  it('renews an expired token with one Authenticate, as etcd3’s path does, and the call goes through', async () => {
    const { lean, etcd3 } = bothPaths();
    const counts = [countAuthentications(lean), countAuthentications(etcd3)];
    await Promise.all([txn(lean, put(etcd.name('warm'), '1')), txn(etcd3, put(etcd.name('warm'), '1'))]);
    const before = counts.map((count) => count());
    await sleep(TOKEN_TTL_S * 1000 + 1500); // both tokens idle past their TTL
    const results = await Promise.all([
      txn(lean, put(etcd.name('late'), '2')),
      txn(etcd3, put(etcd.name('late'), '2')),
    ]);
    expect(results.map((r) => r.succeeded)).toEqual([true, true]);
    expect(counts.map((count, i) => count() - before[i]!)).toEqual([1, 1]);
  }, 20_000);
});
