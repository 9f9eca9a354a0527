import { describe, expect, it } from 'vitest';
import { Election, LockedError, Mutex } from '../../src/index.js';
import { keysUnder, useEtcd, waitForKeys } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { stillPending } from '../support/promises.js';

/**
 * Issue 12, bugs 3, 7 and 8: two calls of one session that overlap. A session has one key per
 * Mutex or Election name, so its calls share that key; none may hand out a hold that is not in
 * etcd, end another caller's wait, or hang.
 */
const etcd = useEtcd();

describe('overlapping calls of one session (issue 12)', () => {
  it('bug 3: lock() during a release of the same session waits for it and queues anew', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('safety-calls')}release`;
    const session = await etcd.session(client);
    const mutex = new Mutex(session, name);
    const first = await mutex.lock();
    const releasing = first.release();
    const again = mutex.lock();
    await releasing;
    const second = await again;
    expect(second).not.toBe(first);
    expect(second.isHeld).toBe(true);
    expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
    const [kv] = await client
      .getAll()
      .prefix(`${name}/`)
      .exec()
      .then((r) => r.kvs);
    expect(kv && BigInt(kv.create_revision)).toBe(second.fencingToken);
    // Another session is excluded by the new hold.
    const other = new Mutex(await etcd.session(client), name);
    await expect(other.tryLock()).rejects.toBeInstanceOf(LockedError);
    await second.release();
  });

  it("bug 7: a joined lock() waits under its own signal, not the first caller's", async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('safety-calls')}join`;
    const holder = await new Mutex(await etcd.session(client), name).lock();
    const mutex = new Mutex(await etcd.session(client), name);
    const impatient = mutex.lock({ signal: AbortSignal.timeout(300) });
    const patient = mutex.lock();
    await expect(impatient).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(await stillPending(patient, 500)).toBe(true);
    expect(await keysUnder(client, `${name}/`)).toHaveLength(2);
    await holder.release();
    const hold = await patient;
    expect(hold.isHeld).toBe(true);
    await hold.release();
  });

  it("bug 7: a joined campaign() waits under its own signal, not the first caller's", async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('safety-calls')}campaign`;
    const leader = await new Election(await etcd.session(client), name).campaign('a');
    const election = new Election(await etcd.session(client), name);
    const impatient = election.campaign('b', { signal: AbortSignal.timeout(300) });
    const patient = election.campaign('b');
    await expect(impatient).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(await stillPending(patient, 500)).toBe(true);
    await leader.release();
    const hold = await patient;
    expect(hold.isHeld).toBe(true);
    await election.resign();
  });

  it('bug 7: the wait is withdrawn (and its key deleted) only when its last caller leaves', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('safety-calls')}last`;
    const holder = await new Mutex(await etcd.session(client), name).lock();
    const mutex = new Mutex(await etcd.session(client), name);
    const a = new AbortController();
    const b = new AbortController();
    const first = mutex.lock({ signal: a.signal });
    const second = mutex.lock({ signal: b.signal });
    await waitForKeys(client, `${name}/`, 2);
    a.abort(new Error('first gave up'));
    await expect(first).rejects.toThrow('first gave up');
    expect(await keysUnder(client, `${name}/`)).toHaveLength(2);
    b.abort(new Error('second gave up'));
    await expect(second).rejects.toThrow('second gave up');
    expect(await keysUnder(client, `${name}/`)).toEqual([holder.key]);
    await holder.release();
  });

  it('bug 8: unlock() withdraws a waiting lock() of the session at once and deletes its key', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('safety-calls')}unlock`;
    const holder = await new Mutex(await etcd.session(client), name).lock();
    const mutex = new Mutex(await etcd.session(client), name);
    const waiting = mutex.lock();
    waiting.catch(() => undefined); // asserted below
    await waitForKeys(client, `${name}/`, 2);
    const started = performance.now();
    await mutex.unlock();
    expect(performance.now() - started).toBeLessThan(2000);
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    expect(await keysUnder(client, `${name}/`)).toEqual([holder.key]);
    // The holder's release is not handed to the withdrawn waiter.
    await holder.release();
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  });
});
