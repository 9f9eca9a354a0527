import { spawn } from 'node:child_process';
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { watch } from '../../src/etcd/watch.js';
import { DoubleBarrier, Election, Mutex, RWMutex, Semaphore, type Session } from '../../src/index.js';
import { useEtcd, waitForKeys } from '../support/clients.js';
import { sharedEtcdEndpoints } from '../support/etcd.js';
import { blockEventLoop } from '../support/pause.js';
import { uniquePrefix } from '../support/prefix.js';

/**
 * Issue 12, bug 1: a process stalled past its loss deadline *while waiting* must not come back as
 * a holder. The stall (a long GC pause, modelled by a busy loop) happens inside an I/O callback —
 * the handler of another watch of the same process, on its own connection — at the moment the
 * waiter's connection also has data. While the process is stalled another process deletes the
 * key ahead. When the handler returns, libuv goes on with the waiter's socket before any timer
 * runs: the event that frees the way is handled after the session's loss deadline has passed
 * (TTL 3 s, margin 1 s, stall 2.4 s) but before its deadline timer fires, while etcd has not yet
 * expired the lease. On the starting code most tries handed out a hold (session "alive"); the
 * wait must reject with SessionExpiredError every time.
 */
const etcd = useEtcd();

const TRIES = 2;

/** A client on a connection of its own (grpc-js would otherwise share one per target). */
const ownConnection = (tag: string) =>
  etcd.client({ grpcOptions: { 'grpc.use_local_subchannel_pool': 1, 'grpc.primary_user_agent': tag } });

/** Runs etcdctl in another process `afterMs` from now: it acts while this one is stalled. */
function etcdctlLater(afterMs: number, ...args: string[]): Promise<number | null> {
  const child = spawn(
    'sh',
    ['-c', `sleep ${afterMs / 1000}; exec etcdctl --endpoints "$EP" "$@"`, 'sh', ...args],
    {
      env: { ...process.env, EP: sharedEtcdEndpoints().join(','), ETCDCTL_API: '3' },
      stdio: 'ignore',
    },
  );
  return new Promise((resolve) => child.on('exit', resolve));
}

interface Case {
  kind: string;
  /** Takes what the waiter queues behind; returns the etcdctl arguments that free the way. */
  hold(session: Session, name: string): Promise<string[]>;
  wait(session: Session, name: string): Promise<unknown>;
  /** Where the waiter's key appears, and how many keys are there once it queued. */
  queue(name: string): [prefix: string, count: number];
}

const cases: Case[] = [
  {
    kind: 'Mutex.lock()',
    hold: async (s, n) => ['del', (await new Mutex(s, n).lock()).key],
    wait: (s, n) => new Mutex(s, n).lock(),
    queue: (n) => [`${n}/`, 2],
  },
  {
    kind: 'RWMutex.rLock() behind a writer',
    hold: async (s, n) => ['del', (await new RWMutex(s, n).lock()).key],
    wait: (s, n) => new RWMutex(s, n).rLock(),
    queue: (n) => [`${n}/`, 2],
  },
  {
    kind: 'Semaphore.acquire()',
    hold: async (s, n) => ['del', (await new Semaphore(s, n, { permits: 1 }).acquire()).key],
    wait: (s, n) => new Semaphore(s, n, { permits: 1 }).acquire(),
    queue: (n) => [`${n}/`, 2],
  },
  {
    kind: 'Election.campaign()',
    hold: async (s, n) => ['del', (await new Election(s, n).campaign('a')).key],
    wait: (s, n) => new Election(s, n).campaign('b'),
    queue: (n) => [`${n}/`, 2],
  },
  {
    // The second participant of two arrives during the stall (as a Go participant would).
    kind: 'DoubleBarrier.enter()',
    hold: (_s, n) => Promise.resolve(['put', `${n}/waiters/0`, '']),
    wait: (s, n) => new DoubleBarrier(s, n, 2).enter(),
    queue: (n) => [`${n}/waiters/`, 1],
  },
];

describe(
  'a waiter stalled past its deadline never becomes a holder (issue 12, bug 1)',
  { timeout: 60_000 },
  () => {
    for (const c of cases) {
      it(`${c.kind} rejects with SessionExpiredError`, async () => {
        for (let attempt = 0; attempt < TRIES; attempt++) {
          const name = `${uniquePrefix('safety-stall')}${c.kind.replace(/\W+/g, '-')}${attempt}`;
          const writer = etcd.client();
          const freeTheWay = await c.hold(await etcd.session(writer, { ttl: 10 }), name);
          const waiter = await etcd.session(ownConnection('waiter'), { ttl: 3, safetyMarginMs: 1000 });
          // What a caller would act on, taken in the instant the wait settles.
          const outcome = c.wait(waiter, name).then(
            () => ({ won: true, state: waiter.currentState }),
            (err: unknown) => ({ won: false, error: (err as Error).name }),
          );
          const [prefix, count] = c.queue(name);
          await waitForKeys(writer, prefix, count);
          // Another part of this process watches a key of its own, on its own connection.
          const trigger = `${name}-trigger`;
          let freed: Promise<number | null> | undefined;
          const sub = watch(ownConnection('other'), { key: trigger }).subscribe(() => {
            if (freed) return;
            freed = etcdctlLater(300, ...freeTheWay);
            blockEventLoop(2400);
          });
          await new Promise((r) => setTimeout(r, 200)); // that watch is established
          await firstValueFrom(waiter.keepAlive$); // a renewal just acknowledged: the deadline is 2 s away
          // One transaction wakes both connections at once: the trigger and a key behind the waiter.
          await writer
            .if(trigger, 'Create', '==', 0)
            .then(writer.put(trigger).value('1'), writer.put(`${prefix}zz`).value(''))
            .commit();
          expect(await outcome).toEqual({ won: false, error: 'SessionExpiredError' });
          expect(await freed).toBe(0);
          sub.unsubscribe();
          await writer.delete().prefix(name);
        }
      });
    }
  },
);
