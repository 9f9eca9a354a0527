import { describe, expect, it } from 'vitest';
import { HoldLostError, Mutex, Semaphore } from '../../src/index.js';
import { useEtcd, usePrivateEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';

/**
 * An uncontended hold is decided by its enqueue transaction and opens no watch for its first
 * 250 ms. A deletion of its key in that time must still reach hold.signal: the watch it opens
 * later starts at the revision after the one at which the key was known to be ours.
 */
const etcd = useEtcd();

describe('an uncontended hold learns of its key deleted before it watched it', () => {
  it('Mutex.tryLock(): the key deleted at once by another client aborts hold.signal with HoldLostError', async () => {
    const client = etcd.client();
    const other = etcd.client();
    const hold = await new Mutex(await etcd.session(client), `${uniquePrefix('hold-watch')}m`).tryLock();
    await other.delete().key(hold.key);
    const started = performance.now();
    const reason = await new Promise((resolve) => {
      hold.signal.addEventListener('abort', () => resolve(hold.signal.reason), { once: true });
    });
    expect(reason).toBeInstanceOf(HoldLostError);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(hold.isHeld).toBe(false);
  });

  it('Semaphore.acquire(): the same for a permit', async () => {
    const client = etcd.client();
    const permit = await new Semaphore(await etcd.session(client), `${uniquePrefix('hold-watch')}s`, {
      permits: 2,
    }).acquire();
    await etcd.client().delete().key(permit.key);
    const reason = await new Promise((resolve) => {
      permit.signal.addEventListener('abort', () => resolve(permit.signal.reason), { once: true });
    });
    expect(reason).toBeInstanceOf(HoldLostError);
  });
});

describe('an uncontended lock and release', () => {
  const own = usePrivateEtcd();

  /** etcd's count of messages received on Watch streams: creations and cancels. */
  async function watchMessages(): Promise<number> {
    const text = await (await fetch(`${own.cluster().endpoints[0]!}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('grpc_server_msg_received_total') && l.includes('grpc_method="Watch"'));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  it('costs no watch message when the hold is released within 250 ms, and leaves no key', async () => {
    const client = own.client();
    const name = `${uniquePrefix('hold-watch')}quick`;
    const mutex = new Mutex(await own.session(client), name);
    const before = await watchMessages();
    for (let i = 0; i < 5; i++) await (await mutex.lock()).release();
    expect(await watchMessages()).toBe(before);
    expect(await client.getAll().prefix(`${name}/`).keys()).toEqual([]);
    // Held longer, the hold watches its key (one creation, one cancel on release).
    const long = await mutex.lock();
    await new Promise((r) => setTimeout(r, 400));
    expect(await watchMessages()).toBeGreaterThan(before);
    await long.release();
  });
});
