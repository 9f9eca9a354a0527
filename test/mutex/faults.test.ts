import { describe, expect, it } from 'vitest';
import { Mutex } from '../../src/index.js';
import { usePrivateEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { startProxy } from '../support/proxy.js';

describe('Mutex when etcd fails', () => {
  const etcd = usePrivateEtcd();

  it('retries a release that failed while etcd was unreachable, so the lock is not stuck', async () => {
    const client = etcd.client({ callTimeoutMs: 1000 });
    const a = await etcd.session(client, { ttl: 30 });
    const b = await etcd.session(client, { ttl: 30 });
    const name = `${uniquePrefix('mutex-faults')}report`;
    const mutex = new Mutex(a, name);
    const hold = await mutex.lock();
    const member = etcd.cluster().members[0]!;
    await member.kill('SIGKILL');
    try {
      await expect(hold.release()).rejects.toThrow(/Cannot reach etcd/);
    } finally {
      await member.start();
    }
    // Still registered: unlock() finds the hold and tries again; so would hold.release().
    await mutex.unlock();
    expect(hold.isHeld).toBe(false);
    expect(await client.getAll().prefix(`${name}/`).keys()).toEqual([]);
    const other = await new Mutex(b, name).lock({ signal: AbortSignal.timeout(3000) });
    await other.release();
  });

  it('rides out a short etcd outage: a lock() issued while etcd is down resolves once it is back', async () => {
    const client = etcd.client({ callTimeoutMs: 1000 });
    const session = await etcd.session(client, { ttl: 10 });
    const name = `${uniquePrefix('mutex-faults')}outage`;
    const mutex = new Mutex(session, name);
    // Another session holds the lock, so this client's view of the queue is already up and the
    // lock() below goes straight to its enqueue transaction while etcd is down.
    const holder = await new Mutex(await etcd.session(client, { ttl: 10 }), name).lock();
    const member = etcd.cluster().members[0]!;
    await member.kill('SIGKILL');
    let pending: Promise<unknown>;
    try {
      pending = mutex.lock();
      pending.catch(() => undefined); // asserted below; the rejection, if any, is not unhandled
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await member.start();
    }
    await holder.release();
    const hold = (await pending) as Awaited<ReturnType<Mutex['lock']>>;
    expect(hold.isHeld).toBe(true);
    expect(session.isActive).toBe(true);
    expect(await client.getAll().prefix(`${name}/`).keys()).toEqual([hold.key]);
    await hold.release();
  });

  it('a lock() that must first finish a failed release rides out unanswered calls (deadlines) too', async () => {
    const proxy = await startProxy(etcd.cluster().endpoints[0]!);
    etcd.defer(() => proxy.close());
    const client = etcd.client({ endpoints: [proxy.endpoint], callTimeoutMs: 500 });
    const session = await etcd.session(client, { ttl: 30 });
    const name = `${uniquePrefix('mutex-faults')}deadline`;
    const mutex = new Mutex(session, name);
    const hold = await mutex.lock();
    // etcd gets every call and answers none: the release runs into its deadline.
    proxy.blackholeReplies();
    await expect(hold.release()).rejects.toThrow(/Cannot reach etcd/);
    // A lock() now has to finish that release first; its calls keep running into deadlines.
    const again = mutex.lock();
    again.catch(() => undefined); // asserted below
    await new Promise((r) => setTimeout(r, 1500));
    proxy.restore();
    proxy.reset(); // the blackholed connection is dropped; the client reconnects
    const next = await again;
    expect(next.isHeld).toBe(true);
    expect(next.fencingToken).toBeGreaterThan(hold.fencingToken);
    await next.release();
  });
});
