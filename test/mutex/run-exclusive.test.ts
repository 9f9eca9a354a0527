import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Mutex, SessionExpiredError, type Hold, type Session } from '../../src/index.js';
import { eventually, keysUnder, useEtcd, waitForKeys } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';

describe('mutex.runExclusive()', () => {
  const etcd = useEtcd();

  it('runs fn while holding the lock and, when stopped, aborts it and unlocks', async () => {
    const client = etcd.client();
    const session = await etcd.session(client);
    const name = `${uniquePrefix('exclusive')}lock`;
    const stop = new AbortController();
    const holds: Hold[] = [];
    let aborted: unknown;
    const done = new Mutex(session, name, { value: 'worker-1' }).runExclusive(
      async (signal, hold) => {
        holds.push(hold);
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        aborted = signal.reason;
      },
      { signal: stop.signal },
    );
    await eventually(() => holds.length === 1, 5000, 'the lock held');
    const [kv] = (await client.getAll().prefix(`${name}/`).exec()).kvs;
    expect(kv?.value.toString()).toBe('worker-1');
    expect(BigInt(kv!.create_revision)).toBe(holds[0]!.fencingToken);
    // Another session waits while the loop holds the lock.
    await expect(new Mutex(await etcd.session(client), name).tryLock()).rejects.toThrow(/is held by/);
    stop.abort(new Error('deploying'));
    await done;
    expect((aborted as Error).message).toBe('deploying');
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
    expect(session.isActive).toBe(true);
  });

  it('when the lease is revoked elsewhere, aborts fn and holds again on a new session', async () => {
    const client = etcd.client();
    const session = await etcd.session(client, { ttl: 4 });
    const name = `${uniquePrefix('exclusive')}lock`;
    const terms: { token: bigint; session: Session; reason?: unknown }[] = [];
    let running = 0;
    let overlaps = 0;
    const stop = new AbortController();
    const done = new Mutex(session, name).runExclusive(
      async (signal, hold) => {
        if (++running > 1) overlaps++;
        const term: (typeof terms)[number] = { token: hold.fencingToken, session: hold.session };
        terms.push(term);
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        await sleep(50); // stopping takes a while: the next term must wait for it
        term.reason = signal.reason;
        running--;
      },
      { signal: stop.signal },
    );
    await eventually(() => terms.length === 1, 5000, 'first hold');
    await etcd.client().leaseClient.leaseRevoke({ ID: session.leaseId });
    await eventually(() => terms.length === 2, 5000, 'second hold');
    const [first, second] = terms as [(typeof terms)[number], (typeof terms)[number]];
    expect(first.reason).toBeInstanceOf(SessionExpiredError);
    expect(second.token).toBeGreaterThan(first.token);
    expect(second.session).not.toBe(session);
    expect(second.session.ttl).toBe(4);
    stop.abort();
    await done;
    expect(overlaps).toBe(0);
    expect(second.session.currentState).toBe('closed');
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  });

  it('a waiting runExclusive takes over when the holder stops, and stopping while waiting leaves no key', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('exclusive')}lock`;
    const order: string[] = [];
    const stopA = new AbortController();
    const stopB = new AbortController();
    const work = (who: string) => async (signal: AbortSignal) => {
      order.push(who);
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
    };
    const a = new Mutex(await etcd.session(client), name).runExclusive(work('a'), { signal: stopA.signal });
    await eventually(() => order.length === 1, 5000, 'a holds');
    const b = new Mutex(await etcd.session(client), name).runExclusive(work('b'), { signal: stopB.signal });
    await waitForKeys(client, `${name}/`, 2);
    stopA.abort();
    await a;
    await eventually(() => order.length === 2, 5000, 'b holds');
    expect(order).toEqual(['a', 'b']);
    stopB.abort();
    await b;
    const c = new Mutex(await etcd.session(client), name);
    const held = await c.lock();
    const stopD = new AbortController();
    const d = new Mutex(await etcd.session(client), name).runExclusive(work('d'), { signal: stopD.signal });
    await waitForKeys(client, `${name}/`, 2);
    stopD.abort();
    await d;
    expect(order).toEqual(['a', 'b']);
    expect(await keysUnder(client, `${name}/`)).toEqual([c.key]);
    await held.release();
  });

  it('rejects with the error fn throws, after unlocking, when there is no onError', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('exclusive')}lock`;
    const boom = new Error('compaction failed');
    await expect(
      new Mutex(await etcd.session(client), name).runExclusive(() => Promise.reject(boom)),
    ).rejects.toBe(boom);
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  });
});
