import { describe, expect, it } from 'vitest';
import { Election, HoldLostError, Mutex } from '../../src/index.js';
import { leaseHex } from '../../src/errors.js';
import { PrefixMirror } from '../../src/queue/mirror.js';
import { keysUnder, useEtcd, waitForKeys } from '../support/clients.js';
import { sharedEtcdEndpoints } from '../support/etcd.js';
import { uniquePrefix } from '../support/prefix.js';
import { stillPending } from '../support/promises.js';
import { startProxy } from '../support/proxy.js';

/**
 * The wait of an exclusive contender that is alone on its client (src/queue/chain-wait.ts): it
 * watches only the key just ahead, so what a release costs does not grow with the fleet. Each
 * contender here has its own client, as the processes of a fleet do.
 */
const etcd = useEtcd();

describe('the chain wait (one waiter per client)', () => {
  it('waits without mirroring the prefix and takes the lock when the holder releases', async () => {
    const name = `${uniquePrefix('chain')}m`;
    const holder = await new Mutex(await etcd.session(etcd.client()), name).lock();
    const client = etcd.client();
    const waiting = new Mutex(await etcd.session(client), name).lock();
    await waitForKeys(etcd.client(), `${name}/`, 2);
    expect(PrefixMirror.exists(client, `${name}/`)).toBe(false);
    expect(await stillPending(waiting, 200)).toBe(true);
    await holder.release();
    const hold = await waiting;
    expect(hold.isHeld).toBe(true);
    expect(hold.fencingToken).toBeGreaterThan(holder.fencingToken);
    await hold.release();
    expect(await keysUnder(etcd.client(), `${name}/`)).toEqual([]);
  });

  it('behind a waiter that gives up, it waits on the key ahead of that one', async () => {
    const name = `${uniquePrefix('chain')}m`;
    const holder = await new Mutex(await etcd.session(etcd.client()), name).lock();
    const quitter = new AbortController();
    const second = new Mutex(await etcd.session(etcd.client()), name).lock({ signal: quitter.signal });
    await waitForKeys(etcd.client(), `${name}/`, 2);
    const third = new Mutex(await etcd.session(etcd.client()), name).lock();
    await waitForKeys(etcd.client(), `${name}/`, 3);
    quitter.abort(new Error('gave up'));
    await expect(second).rejects.toThrow('gave up');
    await waitForKeys(etcd.client(), `${name}/`, 2, { exactly: true });
    // The key just ahead of the third went; the holder is still there: it must go on waiting.
    expect(await stillPending(third, 300)).toBe(true);
    expect(holder.isHeld).toBe(true);
    await holder.release();
    const hold = await third;
    expect(hold.isHeld).toBe(true);
    await hold.release();
  });

  it('an own key deleted by someone else while waiting: lock() rejects with HoldLostError, never holds', async () => {
    const name = `${uniquePrefix('chain')}m`;
    const admin = etcd.client();
    const holder = await new Mutex(await etcd.session(etcd.client()), name).lock();
    const session = await etcd.session(etcd.client());
    const waiting = new Mutex(session, name).lock();
    await waitForKeys(admin, `${name}/`, 2);
    await admin.delete().key(`${name}/${leaseHex(session.leaseId)}`);
    await holder.release();
    await expect(waiting).rejects.toBeInstanceOf(HoldLostError);
    expect(await keysUnder(admin, `${name}/`)).toEqual([]);
  });

  it('the key ahead deleted before its watch exists (the reply came late): the gap read notices', async () => {
    const name = `${uniquePrefix('chain')}m`;
    const admin = etcd.client();
    const holder = await new Mutex(await etcd.session(etcd.client()), name).lock();
    const proxy = await startProxy(sharedEtcdEndpoints()[0]!);
    etcd.defer(() => proxy.close());
    const client = etcd.client({ endpoints: [proxy.endpoint] });
    const mutex = new Mutex(await etcd.session(client), name);
    // Every answer to this client comes 300 ms late: its enqueue runs in etcd at once, the
    // holder releases before the client even knows who was ahead, and its watch of that key is
    // created after the key's deletion.
    proxy.delay({ toClient: 300 });
    const started = performance.now();
    const waiting = mutex.lock();
    await waitForKeys(admin, `${name}/`, 2);
    await holder.release();
    const hold = await waiting;
    const ms = Math.round(performance.now() - started);
    expect(hold.isHeld).toBe(true);
    expect(ms).toBeLessThan(5000); // a missed delete would wait forever
    proxy.delay(0);
    await hold.release();
  });

  it('a ring of own clients: one holder at a time, in queue order, and no key left', async () => {
    const name = `${uniquePrefix('chain')}m`;
    const contenders = await Promise.all(
      Array.from({ length: 5 }, async () => new Mutex(await etcd.session(etcd.client()), name)),
    );
    let inside = 0;
    let overlaps = 0;
    const tokens: bigint[] = [];
    await Promise.all(
      contenders.map(async (mutex) => {
        for (let round = 0; round < 12; round++) {
          const hold = await mutex.lock();
          if (++inside > 1) overlaps++;
          tokens.push(hold.fencingToken);
          await new Promise((r) => setTimeout(r, Math.random() * 2));
          inside--;
          await hold.release();
        }
      }),
    );
    expect(overlaps).toBe(0);
    expect(tokens).toHaveLength(60);
    // Holds in the order of their keys' create revisions: the queue's order.
    expect(tokens).toEqual([...tokens].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(await keysUnder(etcd.client(), `${name}/`)).toEqual([]);
  });

  it('an Election candidate alone on its client campaigns through the chain too', async () => {
    const name = `${uniquePrefix('chain')}e`;
    const leader = await new Election(await etcd.session(etcd.client()), name).campaign('a');
    const client = etcd.client();
    const campaign = new Election(await etcd.session(client), name).campaign('b');
    await waitForKeys(etcd.client(), `${name}/`, 2);
    expect(PrefixMirror.exists(client, `${name}/`)).toBe(false);
    await leader.release();
    const next = await campaign;
    expect(next.isHeld).toBe(true);
    await next.release();
  });

  it('a client closed while its chain wait is pending: lock() rejects, nothing hangs', async () => {
    const name = `${uniquePrefix('chain')}m`;
    const holder = await new Mutex(await etcd.session(etcd.client()), name).lock();
    const client = etcd.client();
    const session = await etcd.session(client);
    const waiting = new Mutex(session, name).lock();
    await waitForKeys(etcd.client(), `${name}/`, 2);
    session.orphan();
    client.close();
    await expect(waiting).rejects.toThrow();
    await holder.release();
  });
});
