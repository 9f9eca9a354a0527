import { describe, expect, it } from 'vitest';
import { Election, Mutex, type Session } from '../../src/index.js';
import { keysUnder, useEtcd, waitForKeys } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { runTs, useSpawn } from '../support/spawn.js';

/**
 * Issue 12, bug 1: a process stalled past its loss deadline *while waiting* must not come back as
 * a holder. The waiter runs in its own process; right after one of its renewals is acknowledged
 * it is stopped (SIGSTOP: it sleeps in epoll_wait, as in a long GC pause or a VM freeze) and the
 * key ahead of it is deleted. It is resumed after its local deadline (TTL 4 s − margin 1.5 s) but
 * before etcd can expire its lease (4 s): on resume the watch event that frees the way is handled
 * before the session's deadline timer. The wait must reject with SessionExpiredError instead of
 * handing out a hold on a lease that may be gone. (test/safety/blocked-waiter.test.ts does the
 * same in-process for every primitive; the worker waiters of test/chaos pause other primitives.)
 */
const etcd = useEtcd();
useSpawn();

const PAUSE_MS = 3000;

interface Case {
  kind: string;
  /** Takes what the worker will wait behind; returns the key to delete during the pause. */
  hold(session: Session, name: string): Promise<string>;
  /** Where the worker's key appears. */
  queue(name: string): string;
}

const cases: Case[] = [
  { kind: 'mutex', hold: async (s, n) => (await new Mutex(s, n).lock()).key, queue: (n) => `${n}/` },
  {
    kind: 'election',
    hold: async (s, n) => (await new Election(s, n).campaign('a')).key,
    queue: (n) => `${n}/`,
  },
  {
    // The second participant of a DoubleBarrier of 2 arrives during the pause (as a Go one would).
    kind: 'double-barrier',
    hold: (_s, n) => Promise.resolve(`${n}/waiters/0`),
    queue: (n) => `${n}/waiters/`,
  },
];

describe(
  'a waiter paused past its deadline never becomes a holder (issue 12, bug 1)',
  { timeout: 30_000 },
  () => {
    for (const c of cases) {
      it(`${c.kind}: the wait rejects with SessionExpiredError and leaves no key`, async () => {
        const client = etcd.client();
        const name = `${uniquePrefix('safety-pause')}${c.kind}`;
        const holder = await etcd.session(client, { ttl: 10 });
        const ahead = await c.hold(holder, name);
        const worker = runTs('test/safety/waiter-worker.ts', [c.kind, name]);
        await worker.waitFor(/waiting/);
        await waitForKeys(client, c.queue(name), c.kind === 'double-barrier' ? 1 : 2);
        const renewals = (worker.stdout.match(/renewed/g) ?? []).length;
        await worker.waitFor(new RegExp(`(renewed\\n[^]*){${renewals + 1}}`));
        worker.kill('SIGSTOP');
        try {
          if (c.kind === 'double-barrier') await client.put(ahead).value('');
          else await client.delete().key(ahead);
          await new Promise((r) => setTimeout(r, PAUSE_MS));
        } finally {
          worker.kill('SIGCONT');
        }
        const [, json] = await worker.waitFor(/outcome (.*)\n/);
        expect(JSON.parse(json!)).toEqual({ won: false, error: 'SessionExpiredError', state: 'lost' });
        const exit = await worker.exit();
        expect(exit.code, exit.stderr).toBe(0);
        // The session revokes its lease as it declares itself lost: nobody waits out the TTL.
        if (c.kind === 'double-barrier') await client.delete().key(ahead);
        await waitForKeys(client, `${name}/`, 0, { exactly: true });
        expect(await keysUnder(client, `${name}/`)).toEqual([]);
      });
    }
  },
);
