import { describe, expect, it } from 'vitest';
import type { KeyValue } from '../../src/etcd/kv.js';
import { classify, groupPrimitives } from '../../src/cli/status-model.js';

/** How `status` tells the primitives apart by their key layouts (pure; ops.test.ts runs it on etcd). */
let revision = 100n;
function kv(key: string, leaseId: string, value = ''): KeyValue {
  revision++;
  return { key, value: Buffer.from(value), leaseId, createRevision: revision, modRevision: revision };
}
const LEASE = '7587869462186612812'; // 694d81e9f5b3a04c
const HEX = BigInt(LEASE).toString(16);

describe('status key layouts', () => {
  it('recognises each layout by the lease the key names', () => {
    expect(classify(kv(`jobs/a/${HEX}`, LEASE))).toEqual({ kind: 'lock/election', name: 'jobs/a' });
    expect(classify(kv(`pools/gpu/${HEX}/1733340000000000000`, LEASE))).toEqual({
      kind: 'semaphore',
      name: 'pools/gpu',
    });
    expect(classify(kv('cfg/read/1733340000000000000', LEASE))).toEqual({
      kind: 'rwmutex',
      name: 'cfg',
      mode: 'read',
    });
  });

  it('leaves keys without a lease, or naming another lease, to "other keys"', () => {
    expect(classify(kv(`jobs/a/${HEX}`, '0'))).toBeUndefined();
    expect(classify(kv('jobs/a/deadbeef', LEASE))).toBeUndefined();
    expect(classify(kv('queue/1733340000000000000', '0'))).toBeUndefined();
  });

  it('puts a waiting writer behind the readers ahead of it, and readers behind a writer', () => {
    const { primitives } = groupPrimitives(
      [kv('cfg/read/1', LEASE), kv('cfg/read/2', LEASE), kv('cfg/write/3', LEASE), kv('cfg/read/4', LEASE)],
      () => undefined,
    );
    expect(primitives[0]!.contenders.map((c) => `${c.role}${c.position} ${c.mode}`)).toEqual([
      'holder0 read',
      'holder0 read',
      'waiter1 write',
      'waiter2 read',
    ]);
  });

  it('counts semaphore holders by weight, and reports the contender value, not its JSON', () => {
    const record = (weight: number, value: string) => JSON.stringify({ weight, value });
    const { primitives } = groupPrimitives(
      [
        kv(`pool/${HEX}/1`, LEASE, record(2, 'big')),
        kv(`pool/${HEX}/2`, LEASE, record(2, 'too-big')),
        kv(`pool/${HEX}/3`, LEASE, record(1, 'small')),
      ],
      () => 3,
    );
    expect(primitives[0]).toMatchObject({ kind: 'semaphore', permits: 3 });
    // FIFO: the small one waits behind the one that does not fit, as the library makes it
    expect(primitives[0]!.contenders.map((c) => [c.role, c.value, c.weight])).toEqual([
      ['holder', 'big', 2],
      ['waiter', 'too-big', 2],
      ['waiter', 'small', 1],
    ]);
  });
});
