import { describe, expect, it } from 'vitest';
import {
  HoldLostError,
  InvalidArgumentError,
  LockedError,
  Mutex,
  SessionClosedError,
  SessionExpiredError,
} from '../../src/index.js';
import { useEtcd, keysUnder, waitForKeys } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';

const etcd = useEtcd();

const leaseHex = (id: string) => BigInt(id).toString(16);

describe('Mutex', () => {
  it('locks and unlocks uncontended, with Go’s key layout on the session lease', async () => {
    const client = etcd.client();
    const session = await etcd.session(client);
    const name = `${uniquePrefix('mutex')}job`;
    const mutex = new Mutex(session, name, { value: 'worker-1' });
    expect(mutex.key).toBe(`${name}/${leaseHex(session.leaseId)}`);
    const hold = await mutex.lock();
    expect(hold.key).toBe(mutex.key);
    const raw = await client.get(mutex.key).exec();
    const kv = raw.kvs[0]!;
    expect(kv.value.toString()).toBe('worker-1');
    expect(kv.lease).toBe(session.leaseId);
    expect(hold.fencingToken).toBe(BigInt(kv.create_revision));
    expect(await mutex.isOwner()).toBe(true);
    await hold.release();
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
    expect(await mutex.isOwner()).toBe(false);
  });

  it('tryLock takes a free mutex and names the holder of a held one', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}try`;
    const a = await etcd.session(client);
    const b = await etcd.session(client);
    const hold = await new Mutex(a, name, { value: 'holder-a' }).tryLock();
    const err = await new Mutex(b, name).tryLock().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockedError);
    const locked = err as LockedError;
    expect(locked.holder).toEqual({
      key: hold.key,
      value: 'holder-a',
      createRevision: hold.fencingToken,
      leaseId: a.leaseId,
    });
    expect(locked.message).toContain(leaseHex(a.leaseId));
    expect(locked.message).toContain('holder-a');
    // Loggers can serialise it: revisions become decimal strings.
    expect(JSON.parse(JSON.stringify(locked))).toMatchObject({
      name: 'LockedError',
      holder: { key: hold.key, createRevision: hold.fencingToken.toString(), leaseId: a.leaseId },
    });
    // The failed tryLock left no key behind.
    expect(await keysUnder(client, `${name}/`)).toEqual([hold.key]);
    await hold.release();
    const second = await new Mutex(b, name).tryLock();
    expect(second.fencingToken).toBeGreaterThan(hold.fencingToken);
    await second.release();
  });

  it('hands the lock from one session to the next on unlock', async () => {
    const name = `${uniquePrefix('mutex')}handoff`;
    const a = new Mutex(await etcd.session(), name);
    const b = new Mutex(await etcd.session(), name);
    const holdA = await a.lock();
    let bHolds = false;
    const pendingB = b.lock().then((h) => {
      bHolds = true;
      return h;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(bHolds).toBe(false);
    await a.unlock();
    const holdB = await pendingB;
    expect(holdB.fencingToken).toBeGreaterThan(holdA.fencingToken);
    expect(await b.isOwner()).toBe(true);
    await holdB.release();
  });

  it('hands the lock to waiters in FIFO order', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}fifo`;
    const first = await new Mutex(await etcd.session(client), name).lock();
    const order: number[] = [];
    const waiters: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      const mutex = new Mutex(await etcd.session(client), name);
      const pending = mutex.lock();
      // Enqueue strictly one after another: each key must exist before the next is created.
      await waitForKeys(client, `${name}/`, i + 2);
      waiters.push(
        pending.then(async (hold) => {
          order.push(i);
          await hold.release();
        }),
      );
    }
    await first.release();
    await Promise.all(waiters);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('keeps waiting correctly when a waiter in the middle of the queue cancels', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}middle`;
    const holder = await new Mutex(await etcd.session(client), name).lock();
    const middle = new AbortController();
    const pendingMiddle = new Mutex(await etcd.session(client), name).lock({ signal: middle.signal });
    await waitForKeys(client, `${name}/`, 2);
    const last = new Mutex(await etcd.session(client), name);
    let lastHolds = false;
    const pendingLast = last.lock().then((h) => {
      lastHolds = true;
      return h;
    });
    await waitForKeys(client, `${name}/`, 3);
    middle.abort(new Error('changed my mind'));
    await expect(pendingMiddle).rejects.toThrow('changed my mind');
    await new Promise((r) => setTimeout(r, 200));
    expect(lastHolds).toBe(false); // the holder still holds
    expect(await keysUnder(client, `${name}/`)).toHaveLength(2);
    await holder.release();
    const hold = await pendingLast;
    expect(await last.isOwner()).toBe(true);
    await hold.release();
  });

  it('leaves no key when a wait is aborted or times out', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}abort`;
    const holder = await new Mutex(await etcd.session(client), name).lock();
    const waiter = new Mutex(await etcd.session(client), name);
    const err = await waiter.lock({ signal: AbortSignal.timeout(300) }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
    expect(await keysUnder(client, `${name}/`)).toEqual([holder.key]);
    const controller = new AbortController();
    const pending = waiter.lock({ signal: controller.signal });
    await waitForKeys(client, `${name}/`, 2);
    controller.abort(new Error('abort'));
    await expect(pending).rejects.toThrow('abort');
    expect(await keysUnder(client, `${name}/`)).toEqual([holder.key]);
    // An already-aborted signal rejects at once and writes nothing.
    await expect(waiter.lock({ signal: AbortSignal.abort(new Error('early')) })).rejects.toThrow('early');
    expect(await keysUnder(client, `${name}/`)).toEqual([holder.key]);
    await holder.release();
  });

  it('rejects a waiter whose session expires with SessionExpiredError and leaves no key', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}expire`;
    const holder = await new Mutex(await etcd.session(client), name).lock();
    const doomed = await etcd.session(client, { ttl: 30 });
    const pending = new Mutex(doomed, name).lock();
    await waitForKeys(client, `${name}/`, 2);
    // Expect before revoking: the wait may end while the revoke's reply is still on its way.
    const rejected = expect(pending).rejects.toBeInstanceOf(SessionExpiredError);
    await etcd.client().leaseClient.leaseRevoke({ ID: doomed.leaseId });
    await rejected;
    expect(await keysUnder(client, `${name}/`)).toEqual([holder.key]);
    await holder.release();
  });

  it('rejects a waiter whose session is closed with SessionClosedError', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}closed`;
    const holder = await new Mutex(await etcd.session(client), name).lock();
    const session = await etcd.session(client);
    const pending = new Mutex(session, name).lock();
    await waitForKeys(client, `${name}/`, 2);
    const rejected = expect(pending).rejects.toBeInstanceOf(SessionClosedError);
    await session.close();
    await rejected;
    expect(await keysUnder(client, `${name}/`)).toEqual([holder.key]);
    await holder.release();
  });

  it('aborts hold.signal and stops hold.txn() from committing when another client revokes the lease', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}revoked`;
    const session = await etcd.session(client, { ttl: 30 });
    const hold = await new Mutex(session, name).lock();
    const guarded = `${name}-data`;
    expect((await hold.txn().then(client.put(guarded).value('1')).commit()).succeeded).toBe(true);
    const revokedAt = Date.now();
    await etcd.client().leaseClient.leaseRevoke({ ID: session.leaseId });
    await new Promise((resolve) => hold.signal.addEventListener('abort', resolve, { once: true }));
    expect(Date.now() - revokedAt).toBeLessThan(3000);
    expect(hold.signal.reason).toBeInstanceOf(SessionExpiredError);
    expect(hold.isHeld).toBe(false);
    expect((await hold.txn().then(client.put(guarded).value('2')).commit()).succeeded).toBe(false);
    expect(await client.get(guarded).string()).toBe('1');
    await hold.release(); // harmless after loss
  });

  it('aborts hold.signal with HoldLostError when another client deletes the key', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}deleted`;
    const session = await etcd.session(client);
    const hold = await new Mutex(session, name).lock();
    await etcd.client().delete().key(hold.key);
    await new Promise((resolve) => hold.signal.addEventListener('abort', resolve, { once: true }));
    expect(hold.signal.reason).toBeInstanceOf(HoldLostError);
    expect(session.isActive).toBe(true);
    expect(
      (
        await hold
          .txn()
          .then(client.put(`${name}-x`).value('1'))
          .commit()
      ).succeeded,
    ).toBe(false);
  });

  it('never lets a stale release delete a newer hold of the same session', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}stale`;
    const session = await etcd.session(client);
    const mutex = new Mutex(session, name);
    const old = await mutex.lock();
    await etcd.client().delete().key(old.key); // lost, e.g. an operator removed it
    await new Promise((resolve) => old.signal.addEventListener('abort', resolve, { once: true }));
    const fresh = await mutex.lock();
    expect(fresh).not.toBe(old);
    expect(fresh.key).toBe(old.key);
    await old.release();
    expect(await keysUnder(client, `${name}/`)).toEqual([fresh.key]);
    expect(fresh.isHeld).toBe(true);
    await fresh.release();
  });

  it('joins the existing hold when the same session locks the same name again', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}reentrant`;
    const session = await etcd.session(client);
    const mutex = new Mutex(session, name);
    const [h1, h2] = await Promise.all([mutex.lock(), mutex.lock()]);
    expect(h2).toBe(h1);
    expect(await new Mutex(session, name).lock()).toBe(h1);
    expect(await mutex.tryLock()).toBe(h1);
    await h1.release();
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  });

  it('tryLock never deletes the key of a wait in progress on the same session', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}trywait`;
    const holder = await new Mutex(await etcd.session(client), name).lock();
    const session = await etcd.session(client);
    const waiting = new Mutex(session, name).lock();
    await waitForKeys(client, `${name}/`, 2);
    await expect(new Mutex(session, name).tryLock()).rejects.toBeInstanceOf(LockedError);
    expect(await keysUnder(client, `${name}/`)).toHaveLength(2);
    await holder.release();
    const hold = await waiting;
    expect(hold.isHeld).toBe(true);
    await hold.release();
  });

  it('withLock releases after the callback, also when it throws', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}with`;
    const mutex = new Mutex(await etcd.session(client), name);
    const result = await mutex.withLock(async (signal, hold) => {
      expect(signal.aborted).toBe(false);
      expect(await keysUnder(client, `${name}/`)).toEqual([hold.key]);
      return 42;
    });
    expect(result).toBe(42);
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
    await expect(
      mutex.withLock(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  });

  it('await using releases the hold at scope end', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}using`;
    const mutex = new Mutex(await etcd.session(client), name);
    {
      await using hold = await mutex.lock();
      expect(hold.isHeld).toBe(true);
      expect(await keysUnder(client, `${name}/`)).toHaveLength(1);
    }
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  });

  it('keeps a shared counter exact: 20 contenders × 20 guarded increments', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('mutex')}counter`;
    const counter = `${name}-count`;
    await client.put(counter).value('0');
    let failedGuards = 0;
    let inside = 0;
    let overlap = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const mutex = new Mutex(await etcd.session(client), name);
        for (let i = 0; i < 20; i++) {
          await mutex.withLock(async (_signal, hold) => {
            if (++inside > 1) overlap++;
            const current = Number(await client.get(counter).string());
            const res = await hold
              .txn()
              .then(client.put(counter).value(String(current + 1)))
              .commit();
            if (!res.succeeded) failedGuards++;
            inside--;
          });
        }
      }),
    );
    expect(await client.get(counter).string()).toBe('400');
    expect(failedGuards).toBe(0);
    expect(overlap).toBe(0);
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  });

  it('rejects bad names with InvalidArgumentError', async () => {
    const session = await etcd.session();
    for (const name of ['', 'locks/', 42, undefined, 'a\0b']) {
      expect(() => new Mutex(session, name as string)).toThrow(InvalidArgumentError);
    }
  });
});
