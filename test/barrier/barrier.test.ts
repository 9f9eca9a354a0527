import { describe, expect, it } from 'vitest';
import { Barrier, InvalidArgumentError } from '../../src/index.js';
import { useEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';

const etcd = useEtcd();

/** Settles with the time it took, or stays pending. */
function timed(promise: Promise<void>): { done: Promise<number>; settled: () => boolean } {
  const start = Date.now();
  let settled = false;
  const done = promise.then(() => {
    settled = true;
    return Date.now() - start;
  });
  return { done, settled: () => settled };
}

describe('Barrier', () => {
  it('holds with Go’s layout (the bare key, no lease); a second hold reports the barrier was already up', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('barrier')}gate`;
    const barrier = new Barrier(client, key);
    expect(await barrier.hold()).toBe(true);
    const raw = (await client.get(key).exec()).kvs[0]!;
    expect(raw.lease).toBe('0');
    expect(raw.value.toString()).toBe('');
    const modRevision = raw.mod_revision;
    expect(await new Barrier(etcd.client(), key).hold()).toBe(false);
    // The second hold wrote nothing.
    expect((await client.get(key).exec()).kvs[0]!.mod_revision).toBe(modRevision);
    await barrier.release();
    expect(await client.get(key).string()).toBeNull();
    await barrier.release(); // idempotent
  });

  it('releases every waiter together when the barrier is released', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('barrier')}gate`;
    const barrier = new Barrier(client, key);
    await barrier.hold();
    // Move the revision past the hold, as Go's test does (it once hung on exactly this).
    await client.put(`${key}-unrelated`).value('x');
    const waiters = Array.from({ length: 5 }, (_, i) =>
      timed(new Barrier(i % 2 === 0 ? client : etcd.client(), key).wait()),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(waiters.map((w) => w.settled())).toEqual([false, false, false, false, false]);
    const releasedAt = Date.now();
    await new Barrier(etcd.client(), key).release();
    await Promise.all(waiters.map((w) => w.done));
    expect(Date.now() - releasedAt).toBeLessThan(1500);
  });

  it('wait returns at once when the barrier is not held, matching the exact key only', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('barrier')}gate`;
    // A key that merely starts with the barrier's name must not count (Go's #16156).
    await client.put(`${key}0`).value('');
    await client.put(`${key}/child`).value('');
    const started = Date.now();
    await Promise.all(Array.from({ length: 5 }, () => new Barrier(client, key).wait()));
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('a waiter sees a release even if the barrier is raised again right after', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('barrier')}gate`;
    const barrier = new Barrier(client, key);
    await barrier.hold();
    const waiter = timed(new Barrier(etcd.client(), key).wait());
    await new Promise((r) => setTimeout(r, 200));
    await barrier.release();
    await barrier.hold();
    await waiter.done;
    // A new wait blocks on the new hold.
    const next = timed(barrier.wait());
    await new Promise((r) => setTimeout(r, 200));
    expect(next.settled()).toBe(false);
    await barrier.release();
    await next.done;
  });

  it('rejects an aborted wait with the signal’s reason and leaves the barrier as it was', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('barrier')}gate`;
    const barrier = new Barrier(client, key);
    await barrier.hold();
    const err = await barrier.wait({ signal: AbortSignal.timeout(200) }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
    const controller = new AbortController();
    const pending = barrier.wait({ signal: controller.signal });
    const other = timed(barrier.wait());
    await new Promise((r) => setTimeout(r, 100));
    controller.abort(new Error('not waiting any more'));
    await expect(pending).rejects.toThrow('not waiting any more');
    await expect(barrier.wait({ signal: AbortSignal.abort(new Error('early')) })).rejects.toThrow('early');
    expect(await client.get(key).string()).toBe('');
    // Other waiters are unaffected.
    expect(other.settled()).toBe(false);
    await barrier.release();
    await other.done;
  });

  it('rejects bad keys with InvalidArgumentError', () => {
    const client = etcd.client();
    for (const key of ['', 'gates/', 42, undefined]) {
      expect(() => new Barrier(client, key as string)).toThrow(InvalidArgumentError);
    }
  });
});
