import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, LockedError, RWMutex, SessionExpiredError } from '../../src/index.js';
import { useEtcd, keysUnder, waitForKeys } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';

const etcd = useEtcd();

function track<T>(promise: Promise<T>): { done: () => boolean; promise: Promise<T> } {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { done: () => settled, promise };
}

describe('RWMutex', () => {
  it('uses the layout of Go’s recipes: name/read/<nanos> and name/write/<nanos> on the lease', async () => {
    const client = etcd.client();
    const session = await etcd.session(client);
    const name = `${uniquePrefix('rw')}cfg`;
    const rw = new RWMutex(session, name);
    const read = await rw.rLock();
    expect(read.key).toMatch(new RegExp(`^${name}/read/\\d+$`));
    await read.release();
    const write = await rw.lock();
    expect(write.key).toMatch(new RegExp(`^${name}/write/\\d+$`));
    const kv = (await client.get(write.key).exec()).kvs[0]!;
    expect(kv.lease).toBe(session.leaseId);
    await write.release();
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  });

  it('lets readers share the lock', async () => {
    const name = `${uniquePrefix('rw')}share`;
    const holds = await Promise.all(
      Array.from({ length: 5 }, async () => new RWMutex(await etcd.session(), name).rLock()),
    );
    expect(holds.every((h) => h.isHeld)).toBe(true);
    expect(new Set(holds.map((h) => h.key)).size).toBe(5);
    await Promise.all(holds.map((h) => h.release()));
  });

  it('makes a writer wait for the readers ahead and readers wait for a writer ahead', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('rw')}excl`;
    const r1 = await new RWMutex(await etcd.session(client), name).rLock();
    const w = track(new RWMutex(await etcd.session(client), name).lock());
    await waitForKeys(client, `${name}/`, 2);
    const r2 = track(new RWMutex(await etcd.session(client), name).rLock());
    await waitForKeys(client, `${name}/`, 3);
    await new Promise((r) => setTimeout(r, 200));
    expect(w.done()).toBe(false);
    // No writer starvation: the reader that came after the waiting writer queues behind it.
    expect(r2.done()).toBe(false);
    await r1.release();
    const wh = await w.promise;
    await new Promise((r) => setTimeout(r, 100));
    expect(r2.done()).toBe(false);
    await wh.release();
    const r2h = await r2.promise;
    expect(r2h.fencingToken).toBeGreaterThan(wh.fencingToken);
    await r2h.release();
  });

  it('serves writers one at a time, in arrival order', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('rw')}writers`;
    const first = await new RWMutex(await etcd.session(client), name).lock();
    const order: number[] = [];
    const all: Promise<void>[] = [];
    for (let i = 0; i < 4; i++) {
      const pending = new RWMutex(await etcd.session(client), name).lock();
      await waitForKeys(client, `${name}/`, i + 2);
      all.push(
        pending.then(async (h) => {
          order.push(i);
          expect(await keysUnder(client, `${name}/write/`)).toContain(h.key);
          await h.release();
        }),
      );
    }
    await first.release();
    await Promise.all(all);
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('tryLock and tryRLock report the blocking holder without leaving a key', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('rw')}try`;
    const reader = await new RWMutex(await etcd.session(client), name).tryRLock();
    const other = new RWMutex(await etcd.session(client), name);
    const shared = await other.tryRLock();
    const err = await other.tryLock().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockedError);
    expect((err as LockedError).holder.key).toBe(reader.key);
    await Promise.all([reader.release(), shared.release()]);
    const writer = await other.tryLock();
    const err2 = await new RWMutex(await etcd.session(client), name).tryRLock().catch((e: unknown) => e);
    expect((err2 as LockedError).holder.key).toBe(writer.key);
    expect(await keysUnder(client, `${name}/`)).toEqual([writer.key]);
    await writer.release();
  });

  it('fails a waiting writer whose session expires instead of reporting it locked', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('rw')}expire`;
    const reader = await new RWMutex(await etcd.session(client), name).rLock();
    const doomed = await etcd.session(client);
    const pending = new RWMutex(doomed, name).lock();
    await waitForKeys(client, `${name}/`, 2);
    // Expect before revoking: the wait may end while the revoke's reply is still on its way.
    const rejected = expect(pending).rejects.toBeInstanceOf(SessionExpiredError);
    await etcd.client().leaseClient.leaseRevoke({ ID: doomed.leaseId });
    await rejected;
    expect(await keysUnder(client, `${name}/`)).toEqual([reader.key]);
    await reader.release();
  });

  it('leaves no key when a wait is aborted', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('rw')}abort`;
    const writer = await new RWMutex(await etcd.session(client), name).lock();
    const rw = new RWMutex(await etcd.session(client), name);
    await expect(rw.rLock({ signal: AbortSignal.timeout(200) })).rejects.toThrow();
    await expect(rw.lock({ signal: AbortSignal.timeout(200) })).rejects.toThrow();
    expect(await keysUnder(client, `${name}/`)).toEqual([writer.key]);
    await writer.release();
  });

  it('rejects bad names', async () => {
    const session = await etcd.session();
    expect(() => new RWMutex(session, '')).toThrow(InvalidArgumentError);
    expect(() => new RWMutex(session, 'x/')).toThrow(InvalidArgumentError);
  });
});
