import { describe, expect, it, vi } from 'vitest';
import { Claim, PriorityQueue, Queue, SessionClosedError } from '../../src/index.js';
import { keysUnder, useEtcd } from '../support/clients.js';
import { sharedEtcdEndpoints } from '../support/etcd.js';
import { uniquePrefix } from '../support/prefix.js';
import { sleep, track } from '../support/promises.js';
import { startProxy } from '../support/proxy.js';

const etcd = useEtcd();
const CLAIMS = '__etcd-concurrency/claims/';
const claimsOf = (name: string) => `${CLAIMS}${encodeURIComponent(name)}/`;

describe('Queue', () => {
  it("stores items as Go's recipe does: name/<unix nanoseconds>, no lease", async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('queue')}jobs`;
    const q = new Queue(client, name);
    const before = BigInt(Date.now()) * 1_000_000n;
    const key = await q.enqueue('job-1');
    expect(key).toMatch(new RegExp(`^${name}/\\d+$`));
    expect(BigInt(key.slice(name.length + 1))).toBeGreaterThanOrEqual(before);
    const kv = (await client.get(key).exec()).kvs[0]!;
    expect(kv.value.toString()).toBe('job-1');
    expect(kv.lease).toBe('0');
    expect(await q.take()).toEqual({ key, value: 'job-1' });
    expect(await keysUnder(client, name)).toEqual([]);
  });

  it('hands items out in FIFO order (one reader, one writer)', async () => {
    const client = etcd.client();
    const q = new Queue(client, `${uniquePrefix('queue')}fifo`);
    for (let i = 0; i < 5; i++) await q.enqueue(String(i));
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push((await q.take()).value);
    expect(got).toEqual(['0', '1', '2', '3', '4']);
  });

  it('takes an item written by a Go-style producer (a bare put under name/)', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('queue')}interop`;
    // What Go's newUniqueKV writes: a create-if-absent put of name/<UnixNano>, no lease.
    await client.put(`${name}/1700000000000000001`).value('from-go');
    const q = new Queue(client, name);
    expect(await q.take()).toEqual({ key: `${name}/1700000000000000001`, value: 'from-go' });
  });

  it('delivers every item exactly once to 3 readers from 3 writers, each on its own client', async () => {
    const name = `${uniquePrefix('queue')}mrmw`;
    const writers = [0, 1, 2].map(() => new Queue(etcd.client(), name));
    const readers = [0, 1, 2].map(() => new Queue(etcd.client(), name));
    const taken: string[] = [];
    const reading = readers.map(async (q) => {
      for (let i = 0; i < 2; i++) taken.push((await q.take({ signal: AbortSignal.timeout(10_000) })).value);
    });
    await Promise.all(writers.map(async (q, w) => Promise.all([q.enqueue(`${w}-a`), q.enqueue(`${w}-b`)])));
    await Promise.all(reading);
    expect(taken.sort()).toEqual(['0-a', '0-b', '1-a', '1-b', '2-a', '2-b']);
  });

  it('a waiting take resolves on the next enqueue; an aborted one rejects with the reason and takes nothing', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('queue')}wait`;
    const q = new Queue(client, name);
    const waiting = track(q.take());
    await sleep(200);
    expect(waiting.settled()).toBe(false);
    await new Queue(etcd.client(), name).enqueue('late');
    expect((await waiting.promise).value).toBe('late');

    const controller = new AbortController();
    const aborted = q.take({ signal: controller.signal });
    await sleep(50);
    const reason = new Error('give up');
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    await q.enqueue('kept');
    expect(Object.values(await client.getAll().prefix(`${name}/`).strings())).toEqual(['kept']);
    await expect(q.take({ signal: AbortSignal.timeout(2000) })).resolves.toMatchObject({ value: 'kept' });
  });

  it('one new item wakes one waiting taker of a client, with one transaction', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('queue')}herd`;
    const q = new Queue(client, name);
    const controller = new AbortController();
    const takers = [0, 1, 2, 3, 4].map(() => track(q.take({ signal: controller.signal })));
    await sleep(200);
    const txn = vi.spyOn(client.kv, 'txn');
    await new Queue(etcd.client(), name).enqueue('only');
    await vi.waitFor(() => {
      expect(takers.filter((t) => t.settled())).toHaveLength(1);
    });
    await sleep(200); // nobody else wakes up and tries
    expect(takers.filter((t) => t.settled())).toHaveLength(1);
    expect(txn).toHaveBeenCalledTimes(1);
    // FIFO among the waiters too: the first one got it.
    expect(takers[0]!.settled()).toBe(true);
    txn.mockRestore();
    controller.abort(new Error('done'));
    for (const t of takers.slice(1)) await expect(t.promise).rejects.toThrow('done');
  });
  it('an abort that arrives while the take transaction is in flight gives the item back', async () => {
    // The taker's replies are delayed by a real proxy: once etcd shows the item taken (the
    // transaction ran), the caller gives up while the reply is still on its way.
    const proxy = await startProxy(sharedEtcdEndpoints()[0]!);
    etcd.defer(() => proxy.close());
    const client = etcd.client({ endpoints: [proxy.endpoint] });
    const observer = etcd.client();
    const name = `${uniquePrefix('queue')}abort-race`;
    const q = new Queue(client, name);
    const session = await etcd.session(client);
    for (const mode of ['at-most-once', 'at-least-once'] as const) {
      const key = await q.enqueue(`item-${mode}`);
      const controller = new AbortController();
      const reason = new Error('late abort');
      proxy.delay({ toClient: 600 });
      const take =
        mode === 'at-most-once'
          ? q.take({ signal: controller.signal })
          : q.take({ session, signal: controller.signal });
      take.catch(() => undefined); // asserted below
      await vi.waitFor(
        async () => {
          expect(await observer.get(key).string()).toBeNull();
        },
        { timeout: 10_000, interval: 20 },
      );
      controller.abort(reason);
      await expect(take).rejects.toBe(reason);
      proxy.delay(0);
      expect(Object.values(await observer.getAll().prefix(`${name}/`).strings())).toEqual([`item-${mode}`]);
      expect(await keysUnder(observer, claimsOf(name))).toEqual([]);
      expect((await q.take()).value).toBe(`item-${mode}`);
    }
  });
});

describe('PriorityQueue', () => {
  it("stores items as Go's recipe does: name/<%05d priority>/<%016d sequence>, plus __name/<priority>", async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('pq')}jobs`;
    const pq = new PriorityQueue(client, name);
    expect(await pq.enqueue('a', 3)).toBe(`${name}/00003/0000000000000000`);
    expect(await pq.enqueue('b', 3)).toBe(`${name}/00003/0000000000000001`);
    // Go writes "" there and never reads it; ours records the last number handed out.
    expect(await client.get(`__${name}/00003`).string()).toBe('1');
    await client.delete().key(`__${name}/00003`);
  });

  it('takes the lowest priority number first, FIFO within a priority', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('pq')}order`;
    const pq = new PriorityQueue(client, name);
    const items: [string, number][] = [
      ['p2-first', 2],
      ['p0-first', 0],
      ['p1', 1],
      ['p0-second', 0],
      ['p2-second', 2],
    ];
    for (const [v, p] of items) await pq.enqueue(v, p);
    const got: string[] = [];
    for (let i = 0; i < items.length; i++) got.push((await pq.take()).value);
    expect(got).toEqual(['p0-first', 'p0-second', 'p1', 'p2-first', 'p2-second']);
    await client.delete().prefix(`__${name}/`);
  });

  it('delivers every item exactly once to 3 readers from 3 writers at random priorities', async () => {
    const name = `${uniquePrefix('pq')}mrmw`;
    const taken: string[] = [];
    const readers = [0, 1, 2].map(async () => {
      const pq = new PriorityQueue(etcd.client(), name);
      for (let i = 0; i < 2; i++) taken.push((await pq.take({ signal: AbortSignal.timeout(10_000) })).value);
    });
    await Promise.all(
      [0, 1, 2].map(async (w) => {
        const pq = new PriorityQueue(etcd.client(), name);
        await pq.enqueue(`${w}-a`, Math.round(Math.random()));
        await pq.enqueue(`${w}-b`, Math.round(Math.random()));
      }),
    );
    await Promise.all(readers);
    expect(taken.sort()).toEqual(['0-a', '0-b', '1-a', '1-b', '2-a', '2-b']);
    await etcd.client().delete().prefix(`__${name}/`);
  });

  it('refuses priorities outside 0…65535', async () => {
    const pq = new PriorityQueue(etcd.client(), `${uniquePrefix('pq')}bad`);
    await expect(pq.enqueue('x', -1)).rejects.toThrow(/0 to 65535/);
    await expect(pq.enqueue('x', 65536)).rejects.toThrow(/0 to 65535/);
    await expect(pq.enqueue('x', 1.5)).rejects.toThrow(/0 to 65535/);
  });
});

describe('at-least-once take', () => {
  it("moves the item out of every range a Go consumer reads into a claim on the session's lease", async () => {
    const client = etcd.client();
    const session = await etcd.session(client);
    const name = `${uniquePrefix('claim')}jobs`;
    const q = new Queue(client, name);
    const key = await q.enqueue('job');
    const claim = await q.take({ session });
    expect(claim).toBeInstanceOf(Claim);
    expect(claim.key).toBe(key);
    expect(claim.value).toBe('job');
    // Go's Dequeue ranges the bare name as a prefix: nothing left there for it to take.
    expect(await keysUnder(client, name)).toEqual([]);
    const kvs = (await client.getAll().prefix(claimsOf(name)).exec()).kvs;
    const marker = kvs.find((kv) => !kv.key.toString().slice(claimsOf(name).length).includes('/'))!;
    const record = kvs.find((kv) => kv !== marker)!;
    expect(kvs).toHaveLength(2);
    expect(marker.lease).toBe(session.leaseId);
    expect(record.lease).toBe('0');
    expect(record.key.toString()).toBe(`${marker.key.toString()}/${key}`);
    expect(record.value.toString()).toBe('job');
    await claim.done();
    expect(await keysUnder(client, claimsOf(name))).toEqual([]);
  });

  it('redelivers a claimed item once its session ends, to another worker', async () => {
    const name = `${uniquePrefix('claim')}redeliver`;
    const c1 = etcd.client();
    const c2 = etcd.client();
    const s1 = await etcd.session(c1, { ttl: 2 });
    const s2 = await etcd.session(c2, { ttl: 2 });
    await new Queue(c1, name).enqueue('job');
    const first = await new Queue(c1, name).take({ session: s1 });
    const second = track(new Queue(c2, name).take({ session: s2, signal: AbortSignal.timeout(10_000) }));
    await sleep(300);
    expect(second.settled()).toBe(false);
    const killedAt = Date.now();
    s1.orphan(); // as if the worker died: its lease expires by itself after the TTL
    const again = await second.promise;
    expect(Date.now() - killedAt).toBeLessThan(2000 + 1000);
    expect(again.value).toBe('job');
    expect(again.key).toBe(first.key);
    await expect(first.done()).rejects.toBeInstanceOf(SessionClosedError);
    await again.done();
    expect(await keysUnder(c1, name)).toEqual([]);
    expect(await keysUnder(c1, claimsOf(name))).toEqual([]);
  });

  it('puts the item back exactly once while several live workers race for it', async () => {
    const name = `${uniquePrefix('claim')}race`;
    const dead = etcd.client();
    const deadSession = await etcd.session(dead);
    const q = new Queue(dead, name);
    await q.enqueue('job');
    // Three live workers, each has taken (and finished) an item, so each watches the claims.
    const live = await Promise.all(
      [0, 1, 2].map(async () => {
        const c = etcd.client();
        return { c, s: await etcd.session(c) };
      }),
    );
    const claim = await q.take({ session: deadSession });
    for (const { c, s } of live) {
      await q.enqueue('warm-up');
      await (await new Queue(c, name).take({ session: s })).done();
    }
    expect(claim.value).toBe('job');
    await q.enqueue('other');
    await deadSession.close(); // the lease is revoked: its marker vanishes now
    await sleep(500);
    // Exactly one copy is back, behind the items that were there (Queue order is revision order).
    const values = Object.values(await dead.getAll().prefix(`${name}/`).sort('Mod', 'Ascend').strings());
    expect(values).toEqual(['other', 'job']);
    expect(await keysUnder(dead, claimsOf(name))).toEqual([]);
    await dead.delete().prefix(`${name}/`);
  });

  it('a PriorityQueue item that comes back returns to its place, ahead of newer items', async () => {
    const name = `${uniquePrefix('claim')}pq`;
    const client = etcd.client();
    const worker = await etcd.session(client);
    const other = await etcd.session(etcd.client());
    const pq = new PriorityQueue(client, name);
    await pq.enqueue('urgent-1', 0);
    const claim = await pq.take({ session: worker });
    await pq.enqueue('urgent-2', 0);
    await pq.enqueue('later', 1);
    // The other worker watches the claims (it took once), so it puts the item back.
    await pq.enqueue('warm-up', 0);
    // 'warm-up' is behind 'urgent-2'; take and finish urgent-2 and warm-up later.
    const first = await new PriorityQueue(other.client, name).take({ session: other });
    expect(first.value).toBe('urgent-2');
    await first.done();
    await worker.close();
    // Put back by the live worker, under its old key.
    await vi.waitFor(async () => {
      expect(await client.get(claim.key).string()).toBe('urgent-1');
    });
    await sleep(100); // and the other worker's watch has seen it
    const pqOther = new PriorityQueue(other.client, name);
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await pqOther.take({ session: other, signal: AbortSignal.timeout(5000) });
      order.push(c.value);
      await c.done();
    }
    expect(claim.value).toBe('urgent-1');
    expect(order).toEqual(['urgent-1', 'warm-up', 'later']);
    await client.delete().prefix(`__${name}/`);
    expect(await keysUnder(client, name)).toEqual([]);
    expect(await keysUnder(client, claimsOf(name))).toEqual([]);
  });

  it('claim.release() gives the item back at once; done() after that rejects', async () => {
    const client = etcd.client();
    const session = await etcd.session(client);
    const name = `${uniquePrefix('claim')}release`;
    const q = new Queue(client, name);
    await q.enqueue('job');
    const claim = await q.take({ session });
    expect(await claim.release()).toBe(true);
    expect(await claim.release()).toBe(false);
    await expect(claim.done()).rejects.toThrow(/deleted before done\(\)/);
    const again = await q.take({ session });
    expect(again.value).toBe('job');
    await again.done();
    expect(await keysUnder(client, claimsOf(name))).toEqual([]);
  });

  it('a waiting take rejects with the session error when its session ends', async () => {
    const client = etcd.client();
    const session = await etcd.session(client);
    const q = new Queue(client, `${uniquePrefix('claim')}ends`);
    const waiting = track(q.take({ session }));
    await sleep(50);
    await session.close();
    await expect(waiting.promise).rejects.toBeInstanceOf(SessionClosedError);
  });
});
