import { spawn } from 'node:child_process';
import { take } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { DoubleBarrier, Election, Mutex, RWMutex, Semaphore, type Session } from '../../src/index.js';
import { keysUnder, useEtcd, waitForKeys } from '../support/clients.js';
import { sharedEtcdEndpoints } from '../support/etcd.js';
import { uniquePrefix } from '../support/prefix.js';

/**
 * Issue 12, bug 1, in-process: the waiter's event loop is blocked (a long GC pause) inside an I/O
 * callback of its etcd connection — here the handler of a renewal. While it is blocked, another
 * process deletes the key ahead. When the handler returns, libuv goes on reading the same socket
 * before any timer runs, so the watch event that frees the way is handled while the session's
 * loss deadline has passed (TTL 3 s, margin 1 s, pause 2.4 s) and before its deadline timer
 * fires. The wait must reject with SessionExpiredError: etcd may already have expired the lease.
 */
const etcd = useEtcd();

const TTL = 3;
const MARGIN_MS = 1000;
const PAUSE_MS = 2400;

/** A synchronous busy wait: nothing else runs in this process meanwhile. */
function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    /* paused */
  }
}

/** Runs etcdctl in another process `afterMs` from now: it acts while this one is blocked. */
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
  /** Takes what the waiter will queue behind; returns the etcdctl command that frees the way. */
  hold(session: Session, name: string): Promise<string[]>;
  wait(session: Session, name: string): Promise<{ signal: AbortSignal } | undefined>;
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
    // The second participant of two arrives during the pause (as a Go participant would).
    kind: 'DoubleBarrier.enter()',
    hold: (_s, n) => Promise.resolve(['put', `${n}/waiters/0`, '']),
    wait: (s, n) => new DoubleBarrier(s, n, 2).enter().then(() => undefined),
    queue: (n) => [`${n}/waiters/`, 1],
  },
];

describe(
  'a waiter blocked past its deadline never becomes a holder (issue 12, bug 1)',
  { timeout: 20_000 },
  () => {
    for (const c of cases) {
      it(`${c.kind} rejects with SessionExpiredError and leaves no key`, async () => {
        const client = etcd.client();
        const name = `${uniquePrefix('safety-block')}${c.kind.replace(/\W+/g, '-')}`;
        const holder = await etcd.session(client, { ttl: 10 });
        const freeTheWay = await c.hold(holder, name);
        const waiter = await etcd.session(etcd.client(), { ttl: TTL, safetyMarginMs: MARGIN_MS });
        // What a caller would act on, taken in the instant the wait settles.
        const outcome = c.wait(waiter, name).then(
          (hold) => ({ won: true, holdAborted: hold?.signal.aborted, state: waiter.currentState }),
          (err: unknown) => ({ won: false, error: (err as Error).name, state: waiter.currentState }),
        );
        const [prefix, count] = c.queue(name);
        await waitForKeys(client, prefix, count);
        let freed: Promise<number | null> | undefined;
        waiter.keepAlive$.pipe(take(1)).subscribe(() => {
          freed = etcdctlLater(300, ...freeTheWay);
          blockEventLoop(PAUSE_MS);
        });
        expect(await outcome).toEqual({ won: false, error: 'SessionExpiredError', state: 'lost' });
        expect(await freed).toBe(0);
        // The session revokes its lease as it declares itself lost: nobody waits out the TTL.
        await client.delete().prefix(`${name}/waiters/0`);
        await waitForKeys(client, `${name}/`, 0, { exactly: true });
        expect(await keysUnder(client, `${name}/`)).toEqual([]);
      });
    }
  },
);
