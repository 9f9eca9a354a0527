import { describe, expect, it } from 'vitest';
import {
  DoubleBarrier,
  InvalidArgumentError,
  SessionClosedError,
  SessionExpiredError,
  TooManyParticipantsError,
} from '../../src/index.js';
import { useEtcd, keysUnder, waitForKeys } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';

const etcd = useEtcd();

/** A promise with a synchronous view of whether it has settled. */
function track<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  tracked.catch(() => undefined);
  return { promise: tracked, settled: () => settled };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('DoubleBarrier', () => {
  it('lets 5 participants enter together and leave together, with Go’s layout, leaving no key', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('dbarrier')}round`;
    const barriers = await Promise.all(
      Array.from(
        { length: 5 },
        async (_, i) => new DoubleBarrier(await etcd.session(i < 3 ? client : undefined), key, 5),
      ),
    );
    const entering = barriers.slice(0, 4).map((b) => track(b.enter()));
    await waitForKeys(client, `${key}/waiters/`, 4, { exactly: true });
    await sleep(200);
    expect(entering.map((e) => e.settled())).toEqual([false, false, false, false]);
    const lastIn = Date.now();
    await barriers[4]!.enter();
    await Promise.all(entering.map((e) => e.promise));
    expect(Date.now() - lastIn).toBeLessThan(2000);

    const waiters = await client.getAll().prefix(`${key}/waiters/`).exec();
    expect(waiters.kvs).toHaveLength(5);
    for (const [i, kv] of waiters.kvs.entries()) {
      expect(kv.key.toString()).toMatch(new RegExp(`^${key}/waiters/\\d+$`));
      expect(kv.lease).toBe(barriers.find((b) => b.participantKey === kv.key.toString())!.session.leaseId);
      expect(i).toBeLessThan(5);
    }
    const ready = (await client.get(`${key}/ready`).exec()).kvs[0]!;
    expect(ready.value.toString()).toBe('');
    expect(ready.lease).toBe('0');
    // Every participant may announce `ready`, but the guard lets only one write through.
    expect(ready.version).toBe('1');

    const leaving = barriers.slice(0, 4).map((b) => track(b.leave()));
    await sleep(300);
    expect(leaving.map((l) => l.settled())).toEqual([false, false, false, false]);
    const lastOut = Date.now();
    await barriers[4]!.leave();
    await Promise.all(leaving.map((l) => l.promise));
    expect(Date.now() - lastOut).toBeLessThan(2000);
    expect(await keysUnder(client, `${key}/`)).toEqual([]);

    // The key can host a new round.
    await Promise.all(barriers.map((b) => b.enter()));
    await Promise.all(barriers.map((b) => b.leave()));
    expect(await keysUnder(client, `${key}/`)).toEqual([]);
  });

  it('refuses a sixth participant with TooManyParticipantsError and leaves its key out', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('dbarrier')}full`;
    const session = await etcd.session(client);
    // As in Go's test, the participants may share one session.
    const inside = Array.from({ length: 5 }, () => new DoubleBarrier(session, key, 5));
    await Promise.all(inside.map((b) => b.enter()));
    const sixth = new DoubleBarrier(await etcd.session(client), key, 5);
    const err = await sixth.enter().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TooManyParticipantsError);
    expect((err as Error).message).toContain(key);
    expect(await keysUnder(client, `${key}/waiters/`)).toHaveLength(5);
    expect(sixth.participantKey).toBeUndefined();
    await Promise.all(inside.map((b) => b.leave()));
  });

  it('admits exactly count of many participants entering at once', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('dbarrier')}race`;
    const results = await Promise.allSettled(
      await Promise.all(
        Array.from({ length: 8 }, async () => new DoubleBarrier(await etcd.session(client), key, 5)),
      ).then((barriers) => barriers.map((b) => b.enter().then(() => b))),
    );
    const entered = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    const refused = results.filter((r) => r.status === 'rejected').map((r) => r.reason as Error);
    expect(entered).toHaveLength(5);
    expect(refused).toHaveLength(3);
    for (const err of refused) expect(err).toBeInstanceOf(TooManyParticipantsError);
    expect((await keysUnder(client, `${key}/waiters/`)).sort()).toEqual(
      entered.map((b) => b.participantKey).sort(),
    );
    await Promise.all(entered.map((b) => b.leave()));
    expect(await keysUnder(client, `${key}/`)).toEqual([]);
  });

  it('does not block the others when a participant dies inside: its vanished key counts as having left', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('dbarrier')}failover`;
    const p1 = new DoubleBarrier(await etcd.session(client), key, 3);
    const p2 = new DoubleBarrier(await etcd.session(client), key, 3);
    const doomed = await etcd.session(client, { ttl: 30 });
    const p3 = new DoubleBarrier(doomed, key, 3);
    const entering = [p1.enter(), p2.enter()];
    await waitForKeys(client, `${key}/waiters/`, 2, { exactly: true });
    await p3.enter();
    await Promise.all(entering);

    const leaving = [track(p1.leave()), track(p2.leave())];
    await sleep(300);
    expect(leaving.map((l) => l.settled())).toEqual([false, false]); // p3 is still inside
    await etcd.client().leaseClient.leaseRevoke({ ID: doomed.leaseId });
    await Promise.all(leaving.map((l) => l.promise));
    expect(await keysUnder(client, `${key}/`)).toEqual([]);
  });

  it('when the oldest participant dies inside, the others still leave and tidy the ready key', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('dbarrier')}oldest`;
    const doomed = await etcd.session(client, { ttl: 30 });
    const oldest = new DoubleBarrier(doomed, key, 3);
    const pending = oldest.enter();
    await waitForKeys(client, `${key}/waiters/`, 1, { exactly: true });
    const others = [
      new DoubleBarrier(await etcd.session(client), key, 3),
      new DoubleBarrier(await etcd.session(client), key, 3),
    ];
    await Promise.all([pending, ...others.map((b) => b.enter())]);
    const leaving = others.map((b) => track(b.leave()));
    await sleep(200);
    expect(leaving.map((l) => l.settled())).toEqual([false, false]);
    await etcd.client().leaseClient.leaseRevoke({ ID: doomed.leaseId });
    await Promise.all(leaving.map((l) => l.promise));
    expect(await keysUnder(client, `${key}/`)).toEqual([]);
    // The dead participant learns it is out.
    await expect(oldest.leave()).rejects.toBeInstanceOf(SessionExpiredError);
  });

  it('a participant dying while others wait to enter is replaced by the next one to arrive', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('dbarrier')}replace`;
    const p1 = track(new DoubleBarrier(await etcd.session(client), key, 3).enter());
    await waitForKeys(client, `${key}/waiters/`, 1, { exactly: true });
    const doomed = await etcd.session(client, { ttl: 30 });
    const p2 = track(new DoubleBarrier(doomed, key, 3).enter());
    await waitForKeys(client, `${key}/waiters/`, 2, { exactly: true });
    await etcd.client().leaseClient.leaseRevoke({ ID: doomed.leaseId });
    await expect(p2.promise).rejects.toBeInstanceOf(SessionExpiredError);
    const p3 = track(new DoubleBarrier(await etcd.session(client), key, 3).enter());
    await waitForKeys(client, `${key}/waiters/`, 2, { exactly: true });
    await sleep(200);
    // Two live participants: the dead one does not count as entered.
    expect([p1.settled(), p3.settled()]).toEqual([false, false]);
    const p4 = new DoubleBarrier(await etcd.session(client), key, 3);
    await p4.enter();
    await Promise.all([p1.promise, p3.promise]);
  });

  it('releases the others when the last participant crashes before putting ready (where Go hangs)', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('dbarrier')}crash`;
    const p1 = new DoubleBarrier(await etcd.session(client), key, 3);
    const p2 = new DoubleBarrier(await etcd.session(client), key, 3);
    const entering = [track(p1.enter()), track(p2.enter())];
    await waitForKeys(client, `${key}/waiters/`, 2, { exactly: true });
    await sleep(100);
    expect(entering.map((e) => e.settled())).toEqual([false, false]);
    // A Go participant that created its key and was killed before its second read: its lease is
    // not kept alive and expires after 2 s.
    const grant = await client.leaseClient.leaseGrant({ TTL: '2', ID: '0' });
    await client.kv.put({
      key: Buffer.from(`${key}/waiters/${BigInt(Date.now()) * 1_000_000n}`),
      value: Buffer.alloc(0),
      lease: grant.ID,
    });
    await Promise.all(entering.map((e) => e.promise));
    expect(await client.get(`${key}/ready`).string()).toBe('');
    // Leaving waits for the crashed participant's key to vanish by lease expiry, then completes.
    const started = Date.now();
    await Promise.all([p1.leave(), p2.leave()]);
    expect(Date.now() - started).toBeGreaterThan(500);
    expect(Date.now() - started).toBeLessThan(6000);
    expect(await keysUnder(client, `${key}/`)).toEqual([]);
  });

  it('ignores a ready key left over from an earlier round', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('dbarrier')}stale`;
    await client.put(`${key}/ready`).value('');
    const first = new DoubleBarrier(await etcd.session(client), key, 2);
    await expect(first.enter({ signal: AbortSignal.timeout(300) })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    const second = new DoubleBarrier(await etcd.session(client), key, 2);
    await Promise.all([first.enter(), second.enter()]);
    expect((await client.get(`${key}/ready`).exec()).kvs[0]!.version).toBe('2'); // put anew
    await Promise.all([first.leave(), second.leave()]);
    expect(await keysUnder(client, `${key}/`)).toEqual([]);
  });

  it('rejects an aborted enter with the signal’s reason and leaves no key', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('dbarrier')}abort`;
    const barrier = new DoubleBarrier(await etcd.session(client), key, 2);
    const err = await barrier.enter({ signal: AbortSignal.timeout(300) }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
    expect(await keysUnder(client, `${key}/`)).toEqual([]);
    await expect(barrier.enter({ signal: AbortSignal.abort(new Error('early')) })).rejects.toThrow('early');
    expect(await keysUnder(client, `${key}/`)).toEqual([]);
    // The object is usable again after an aborted enter.
    const other = new DoubleBarrier(await etcd.session(client), key, 2);
    await Promise.all([barrier.enter(), other.enter()]);
    await Promise.all([barrier.leave(), other.leave()]);
  });

  it('rejects a waiting enter with SessionClosedError when its session closes', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('dbarrier')}closed`;
    const session = await etcd.session(client);
    const pending = expect(new DoubleBarrier(session, key, 2).enter()).rejects.toBeInstanceOf(
      SessionClosedError,
    );
    await waitForKeys(client, `${key}/waiters/`, 1, { exactly: true });
    await session.close();
    await pending;
    expect(await keysUnder(client, `${key}/`)).toEqual([]);
  });

  it('an aborted leave keeps the oldest participant inside and lets the others go', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('dbarrier')}abortleave`;
    const oldest = new DoubleBarrier(await etcd.session(client), key, 2);
    const pending = oldest.enter();
    await waitForKeys(client, `${key}/waiters/`, 1, { exactly: true });
    const other = new DoubleBarrier(await etcd.session(client), key, 2);
    await Promise.all([pending, other.enter()]);
    // The oldest waits for the other to leave; aborting leaves it inside, its key in place.
    const stop = new AbortController();
    const leavingOldest = oldest.leave({ signal: stop.signal });
    await sleep(100);
    stop.abort(new Error('stop waiting'));
    await expect(leavingOldest).rejects.toThrow('stop waiting');
    expect(oldest.participantKey).toBeDefined();
    expect(await keysUnder(client, `${key}/waiters/`)).toHaveLength(2);
    // The other deletes its key at once, then waits for the oldest; aborting that wait still
    // leaves it out of the barrier.
    const leavingOther = other.leave({ signal: AbortSignal.timeout(300) });
    await expect(leavingOther).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(other.participantKey).toBeUndefined();
    expect(await keysUnder(client, `${key}/waiters/`)).toEqual([oldest.participantKey]);
    // The oldest leaves for real, and the other may enter a new round.
    await oldest.leave();
    expect(await keysUnder(client, `${key}/`)).toEqual([]);
    await expect(other.enter({ signal: AbortSignal.timeout(100) })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    expect(await keysUnder(client, `${key}/`)).toEqual([]);
  });

  it('rejects misuse and bad arguments with InvalidArgumentError', async () => {
    const session = await etcd.session();
    const key = `${uniquePrefix('dbarrier')}misuse`;
    for (const count of [0, -1, 1.5, Number.NaN, '3']) {
      expect(() => new DoubleBarrier(session, key, count as number)).toThrow(InvalidArgumentError);
    }
    for (const name of ['', 'round/', 7]) {
      expect(() => new DoubleBarrier(session, name as string, 2)).toThrow(InvalidArgumentError);
    }
    const barrier = new DoubleBarrier(session, key, 1);
    await expect(barrier.leave()).rejects.toBeInstanceOf(InvalidArgumentError);
    await barrier.enter(); // count 1: enters alone at once
    await expect(barrier.enter()).rejects.toBeInstanceOf(InvalidArgumentError);
    await barrier.leave();
    await expect(barrier.leave()).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
