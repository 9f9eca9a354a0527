import { filter, firstValueFrom, take } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  Barrier,
  DoubleBarrier,
  Election,
  LockedError,
  Mutex,
  RWMutex,
  Semaphore,
  type LeaderInfo,
} from '../../src/index.js';
import { eventually } from '../support/clients.js';
import { collectOutputs, sleep, useSecureEtcd } from './fixture.js';

/** Settles-or-not view of a promise, to check that a waiter is still waiting. */
function track<T>(promise: Promise<T>) {
  const state = { settled: false, promise };
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

describe.each([1, 3] as const)(
  'Primitives over TLS as a user limited to its prefix (%i-member etcd)',
  (members) => {
    const etcd = useSecureEtcd({ members });
    const outputs = collectOutputs(() => {
      const { auth } = etcd.credentials();
      return [auth.user.password, auth.root.password];
    });

    it('connects over https with the client certificate and the user’s password, and may not leave its prefix', async () => {
      const { auth } = etcd.credentials();
      expect(etcd.cluster().endpoints.every((e) => e.startsWith('https://'))).toBe(true);
      const client = etcd.user();
      const name = etcd.name('kv');
      await client.put(name).value('v');
      expect(await client.get(name).string()).toBe('v');
      const denied = await outputs.rejection(client.put('outside/key').value('v').exec());
      expect(String(denied)).toContain('permission denied');
      expect(auth.prefix).toBe('app/');
    });

    it('Mutex: locks, names the holder to tryLock, and hands over to the next session in order', async () => {
      const name = etcd.name('mutex');
      const a = new Mutex(await etcd.session(etcd.user()), name, { value: 'worker-a' });
      const b = new Mutex(await etcd.session(etcd.user()), name, { value: 'worker-b' });
      const c = new Mutex(await etcd.session(etcd.user()), name, { value: 'worker-c' });
      const holdA = await a.lock();
      const locked = await outputs.rejection(b.tryLock());
      expect(locked).toBeInstanceOf(LockedError);
      expect((locked as LockedError).holder.value).toBe('worker-a');
      const waitB = track(b.lock());
      await sleep(50);
      const waitC = track(c.lock());
      await sleep(200);
      expect([waitB.settled, waitC.settled]).toEqual([false, false]);
      await holdA.release();
      const holdB = await waitB.promise;
      expect(holdB.fencingToken).toBeGreaterThan(holdA.fencingToken);
      await sleep(100);
      expect(waitC.settled).toBe(false);
      await holdB.release();
      const holdC = await waitC.promise;
      expect(await c.isOwner()).toBe(true);
      await holdC.release();
      expect(await etcd.root().getAll().prefix(`${name}/`).keys()).toEqual([]);
    });

    it('RWMutex: readers share, a writer waits for them and excludes later readers', async () => {
      const name = etcd.name('rw');
      const client = etcd.user();
      const r1 = new RWMutex(await etcd.session(client), name);
      const r2 = new RWMutex(await etcd.session(etcd.user()), name);
      const w = new RWMutex(await etcd.session(etcd.user()), name);
      const r3 = new RWMutex(await etcd.session(etcd.user()), name);
      const read1 = await r1.rLock();
      const read2 = await r2.rLock();
      const write = track(w.lock());
      await sleep(100);
      const read3 = track(r3.rLock());
      await sleep(200);
      expect([write.settled, read3.settled]).toEqual([false, false]);
      await read1.release();
      await read2.release();
      const writeHold = await write.promise;
      await sleep(100);
      expect(read3.settled).toBe(false);
      await writeHold.release();
      await (await read3.promise).release();
    });

    it('Election: campaigns, proclaims, observes, and hands leadership over on resign', async () => {
      const name = etcd.name('election');
      const observer = etcd.user();
      const seen: (LeaderInfo | null)[] = [];
      const sub = Election.observe(observer, name).subscribe((l) => seen.push(l));
      etcd.defer(() => {
        sub.unsubscribe();
      });
      await eventually(() => seen.length > 0, 5000, 'the first observation');
      const a = new Election(await etcd.session(etcd.user()), name);
      const b = new Election(await etcd.session(etcd.user()), name);
      await a.campaign('a-1');
      const bLeads = track(b.campaign('b-1'));
      await a.proclaim('a-2');
      expect((await Election.leader(observer, name)).value).toBe('a-2');
      await sleep(100);
      expect(bLeads.settled).toBe(false);
      await a.resign();
      await bLeads.promise;
      expect(b.isLeader).toBe(true);
      const leaderNow = await firstValueFrom(
        Election.observe(observer, name).pipe(
          filter((l) => l?.value === 'b-1'),
          take(1),
        ),
      );
      expect(leaderNow?.leaseId).toBe(b.session.leaseId);
      await b.resign();
      await sleep(100);
      expect(seen.map((l) => l?.value ?? null)).toEqual([null, 'a-1', 'a-2', 'b-1', null]);
    });

    it('Barrier: waiters block while it is held and all pass when it is released', async () => {
      const key = etcd.name('barrier');
      const barrier = new Barrier(etcd.user(), key);
      expect(await barrier.hold()).toBe(true);
      const waiters = [etcd.user(), etcd.user()].map((c) => track(new Barrier(c, key).wait()));
      await sleep(200);
      expect(waiters.map((w) => w.settled)).toEqual([false, false]);
      await barrier.release();
      await Promise.all(waiters.map((w) => w.promise));
    });

    it('DoubleBarrier: three participants enter together and leave together', async () => {
      const key = etcd.name('double');
      const participants = await Promise.all(
        [0, 1, 2].map(async () => new DoubleBarrier(await etcd.session(etcd.user()), key, 3)),
      );
      const entering = participants.slice(0, 2).map((p) => track(p.enter()));
      await sleep(200);
      expect(entering.map((e) => e.settled)).toEqual([false, false]);
      await participants[2]!.enter();
      await Promise.all(entering.map((e) => e.promise));
      const leaving = participants.slice(0, 2).map((p) => track(p.leave()));
      await sleep(200);
      expect(leaving.map((l) => l.settled)).toEqual([false, false]);
      await participants[2]!.leave();
      await Promise.all(leaving.map((l) => l.promise));
      expect(await etcd.root().getAll().prefix(`${key}/`).keys()).toEqual([]);
    });

    it('Semaphore: grants permits up to the limit, queues the next, reports holders', async () => {
      const name = etcd.name('sem');
      const sems = await Promise.all(
        ['w1', 'w2', 'w3'].map(
          async (value) => new Semaphore(await etcd.session(etcd.user()), name, { permits: 2, value }),
        ),
      );
      const p1 = await sems[0]!.acquire();
      const p2 = await sems[1]!.acquire();
      const third = track(sems[2]!.acquire());
      await sleep(200);
      expect(third.settled).toBe(false);
      const holders = await firstValueFrom(sems[2]!.holders$.pipe(filter((h) => h.length === 2)));
      expect(holders.map((h) => h.value).sort()).toEqual(['w1', 'w2']);
      await p1.release();
      const p3 = await third.promise;
      await p2.release();
      await p3.release();
    });
  },
);
