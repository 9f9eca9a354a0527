import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import {
  Election,
  HoldLostError,
  InvalidArgumentError,
  SessionExpiredError,
  type Hold,
  type Session,
} from '../../src/index.js';
import { eventually, keysUnder, useEtcd, usePrivateEtcd, waitForKeys } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { runTs, useSpawn } from '../support/spawn.js';

/** One run of the leader's work, as the test saw it. */
interface Term {
  token: bigint;
  session: Session;
  reason?: unknown;
  ended: boolean;
}

/**
 * Work that records its terms, checks that two never run at once in this process, and writes a
 * guarded key every 50 ms (so etcd orders the terms' writes).
 */
function recordingWork(client: Etcd3, log: string) {
  const terms: Term[] = [];
  let running = 0;
  let overlaps = 0;
  const work = async (signal: AbortSignal, hold: Hold) => {
    if (++running > 1) overlaps++;
    const term: Term = { token: hold.fencingToken, session: hold.session, ended: false };
    terms.push(term);
    try {
      for (let seq = 0; !signal.aborted; seq++) {
        await hold
          .txn()
          .then(client.put(`${log}${hold.fencingToken}/${seq}`).value('test'))
          .commit()
          .catch(() => undefined);
        await sleep(50, undefined, { signal }).catch(() => undefined);
      }
      term.reason = signal.reason;
    } finally {
      term.ended = true;
      running--;
    }
  };
  return {
    terms,
    work,
    get overlaps() {
      return overlaps;
    },
  };
}

/**
 * By etcd's order: each term's guarded writes all come after the previous term's, and terms
 * (fencing tokens) strictly increase. Returns the terms seen, in order.
 */
async function expectTermsOrderedByEtcd(client: Etcd3, log: string): Promise<bigint[]> {
  const res = await client.getAll().prefix(log).exec();
  const byTerm = new Map<bigint, { first: bigint; last: bigint }>();
  for (const kv of res.kvs) {
    const term = BigInt(kv.key.toString().slice(log.length).split('/')[0]!);
    const rev = BigInt(kv.mod_revision);
    const span = byTerm.get(term);
    if (!span) byTerm.set(term, { first: rev, last: rev });
    else
      byTerm.set(term, {
        first: rev < span.first ? rev : span.first,
        last: rev > span.last ? rev : span.last,
      });
  }
  const spans = [...byTerm.entries()].sort(([, a], [, b]) => (a.first < b.first ? -1 : 1));
  for (let i = 1; i < spans.length; i++) {
    const [prevTerm, prev] = spans[i - 1]!;
    const [term, span] = spans[i]!;
    expect(term, 'terms strictly increase in etcd order').toBeGreaterThan(prevTerm);
    expect(span.first, `term ${term} writes only after term ${prevTerm} stopped writing`).toBeGreaterThan(
      prev.last,
    );
  }
  return spans.map(([t]) => t);
}

async function leaseGone(client: Etcd3, leaseId: string): Promise<boolean> {
  const res = await client.leaseClient.leaseTimeToLive({ ID: leaseId, keys: false });
  return Number(res.TTL) <= 0;
}

describe('election.lead()', () => {
  const etcd = useEtcd();
  useSpawn();

  it('runs fn while leader and, when stopped, aborts it, resigns and resolves', async () => {
    const client = etcd.client();
    const session = await etcd.session(client);
    const name = `${uniquePrefix('lead')}election`;
    const election = new Election(session, name);
    const stop = new AbortController();
    let signalSeen: AbortSignal | undefined;
    let resolveStarted!: (hold: Hold) => void;
    const started = new Promise<Hold>((resolve) => (resolveStarted = resolve));
    const done = election.lead(
      async (signal, hold) => {
        signalSeen = signal;
        resolveStarted(hold);
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
      },
      { signal: stop.signal, value: 'me' },
    );
    const hold = await started;
    expect(hold.session).toBe(session); // the first term uses the caller's session
    const leader = await Election.leader(client, name);
    expect(leader).toMatchObject({
      value: 'me',
      createRevision: hold.fencingToken,
      leaseId: session.leaseId,
    });
    stop.abort(new Error('shutting down'));
    await done;
    expect(signalSeen?.aborted).toBe(true);
    expect((signalSeen?.reason as Error).message).toBe('shutting down');
    expect(await keysUnder(client, `${name}/`)).toEqual([]); // resigned
    expect(session.isActive).toBe(true); // the caller's session is never closed by lead()
  });

  it('when the lease is revoked elsewhere, aborts fn and starts a higher term on a new session', async () => {
    const client = etcd.client();
    const session = await etcd.session(client, { ttl: 5 });
    const name = `${uniquePrefix('lead')}election`;
    const log = uniquePrefix('lead-log');
    const rec = recordingWork(client, log);
    const stop = new AbortController();
    const done = new Election(session, name).lead(rec.work, { signal: stop.signal });
    await eventually(() => rec.terms.length === 1, 5000, 'first term');
    await sleep(150); // a few guarded writes in the first term
    await etcd.client().leaseClient.leaseRevoke({ ID: session.leaseId });
    await eventually(() => rec.terms.length === 2, 5000, 'second term');
    const [first, second] = rec.terms as [Term, Term];
    expect(first.ended).toBe(true);
    // The session learns of the revoke from its key's deletion (or from its next renewal).
    expect(first.reason).toBeInstanceOf(SessionExpiredError);
    expect(second.token).toBeGreaterThan(first.token);
    expect(second.session).not.toBe(session);
    expect(second.session.ttl).toBe(5); // the same TTL as the caller's session
    await sleep(150);
    stop.abort();
    await done;
    expect(rec.overlaps).toBe(0);
    expect(second.session.currentState).toBe('closed'); // sessions lead() made are closed
    expect(await leaseGone(client, second.session.leaseId)).toBe(true);
    expect(await expectTermsOrderedByEtcd(client, log)).toEqual([first.token, second.token]);
  });

  it('when its key is deleted by another client, campaigns again on the same session', async () => {
    const client = etcd.client();
    const session = await etcd.session(client);
    const name = `${uniquePrefix('lead')}election`;
    const rec = recordingWork(client, uniquePrefix('lead-log'));
    const stop = new AbortController();
    const done = new Election(session, name).lead(rec.work, { signal: stop.signal });
    await eventually(() => rec.terms.length === 1, 5000, 'first term');
    await etcd.client().delete().prefix(`${name}/`);
    await eventually(() => rec.terms.length === 2, 5000, 'second term');
    expect(rec.terms[0]!.reason).toBeInstanceOf(HoldLostError);
    expect(rec.terms[1]!.session).toBe(session);
    expect(rec.terms[1]!.token).toBeGreaterThan(rec.terms[0]!.token);
    stop.abort();
    await done;
  });

  it('keeps terms apart across processes when the leader is paused past its TTL', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('lead')}election`;
    const log = uniquePrefix('lead-log');
    const child = runTs('test/election/lead-worker.ts', [name, log, '2']);
    const [, childFirst] = (await child.waitFor(/START (\d+)/)) as [string, string];
    await sleep(300); // the child writes a few times in its first term

    const rec = recordingWork(client, log);
    const stop = new AbortController();
    const session = await etcd.session(client, { ttl: 5 });
    const done = new Election(session, name).lead(rec.work, { signal: stop.signal, value: 'test' });
    await waitForKeys(client, `${name}/`, 2); // queued behind the child

    child.kill('SIGSTOP');
    try {
      // The child's lease expires in etcd while it is frozen: the test process takes over.
      await eventually(() => rec.terms.length === 1, 10_000, 'the test process to lead');
      await sleep(300);
    } finally {
      child.kill('SIGCONT');
    }
    // On waking, the child learns its session is lost, stops its work and queues behind us.
    await child.waitFor(new RegExp(`END ${childFirst} SessionExpiredError`), 10_000);
    await waitForKeys(client, `${name}/`, 2);
    expect(rec.terms[0]!.ended).toBe(false); // we still lead
    stop.abort();
    await done;
    const [, childSecond] = (await child.waitFor(new RegExp(`START (?!${childFirst}\\b)(\\d+)`))) as [
      string,
      string,
    ];
    await sleep(300);
    child.kill('SIGTERM');
    const exit = await child.exit();
    expect(exit.stdout).toContain('STOPPED');
    expect(exit.code).toBe(0);

    const ours = rec.terms[0]!.token;
    expect(ours).toBeGreaterThan(BigInt(childFirst));
    expect(BigInt(childSecond)).toBeGreaterThan(ours);
    // Whatever the child tried to write after waking in its old term was fenced off by etcd.
    expect(await expectTermsOrderedByEtcd(client, log)).toEqual([
      BigInt(childFirst),
      ours,
      BigInt(childSecond),
    ]);
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  }, 40_000);

  it('rejects with the error fn throws, after resigning, when there is no onError', async () => {
    const client = etcd.client();
    const session = await etcd.session(client);
    const name = `${uniquePrefix('lead')}election`;
    const boom = new Error('work failed');
    await expect(
      new Election(session, name).lead(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
    expect(session.isActive).toBe(true);
  });

  it('with onError, reports a failing fn, resigns and campaigns again after a backoff', async () => {
    const client = etcd.client();
    const session = await etcd.session(client);
    const name = `${uniquePrefix('lead')}election`;
    const errors: unknown[] = [];
    const tokens: bigint[] = [];
    const startedAt: number[] = [];
    const stop = new AbortController();
    const done = new Election(session, name).lead(
      (_signal, hold) => {
        tokens.push(hold.fencingToken);
        startedAt.push(performance.now());
        throw new Error(`failure ${tokens.length}`);
      },
      {
        signal: stop.signal,
        onError: (err, context) =>
          errors.push([(err as Error).message, context.during, context.fencingToken]),
        backoff: { minDelayMs: 50, maxDelayMs: 400 },
      },
    );
    await eventually(() => tokens.length >= 4, 10_000, 'four failed terms');
    stop.abort();
    await done;
    expect(errors.slice(0, 3)).toEqual([
      ['failure 1', 'work', tokens[0]],
      ['failure 2', 'work', tokens[1]],
      ['failure 3', 'work', tokens[2]],
    ]);
    for (let i = 1; i < tokens.length; i++) {
      expect(tokens[i]).toBeGreaterThan(tokens[i - 1]!);
      expect(startedAt[i]! - startedAt[i - 1]!).toBeGreaterThanOrEqual(45); // backoff ≥ minDelayMs
    }
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  });

  it('hands the leadership on when fn returns, and campaigns again behind the others', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('lead')}election`;
    const order: string[] = [];
    const stop = new AbortController();
    const runs = ['a', 'b'].map(async (who) => {
      const session = await etcd.session(client);
      return new Election(session, name).lead(
        async () => {
          order.push(who);
          await sleep(20);
        },
        { signal: stop.signal, value: who, backoff: { minDelayMs: 10, maxDelayMs: 10 } },
      );
    });
    await eventually(() => order.length >= 6, 10_000, 'six terms');
    stop.abort();
    await Promise.all(runs);
    // Each return gives the leadership to the one waiting: the two alternate.
    for (let i = 1; i < 6; i++) expect(order[i]).not.toBe(order[i - 1]);
  });

  it('refuses a second loop on the same session and name', async () => {
    const session = await etcd.session();
    const name = `${uniquePrefix('lead')}election`;
    const stop = new AbortController();
    const first = new Election(session, name).lead(
      (signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve())),
      { signal: stop.signal },
    );
    await expect(new Election(session, name).lead(() => undefined)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    stop.abort();
    await first;
  });

  it('stops while still campaigning and leaves no key behind', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('lead')}election`;
    const leader = new Election(await etcd.session(client), name);
    await leader.campaign('holder');
    const stop = new AbortController();
    let ran = false;
    const done = new Election(await etcd.session(client), name).lead(
      () => {
        ran = true;
      },
      { signal: stop.signal },
    );
    await waitForKeys(client, `${name}/`, 2);
    stop.abort();
    await done;
    expect(ran).toBe(false);
    expect(await keysUnder(client, `${name}/`)).toEqual([leader.key]);
  });

  it('ends the term when the election is resigned outside the loop', async () => {
    const session = await etcd.session();
    const name = `${uniquePrefix('lead')}election`;
    const election = new Election(session, name);
    const rec = recordingWork(etcd.client(), uniquePrefix('lead-log'));
    const stop = new AbortController();
    const done = election.lead(rec.work, { signal: stop.signal });
    await eventually(() => rec.terms.length === 1, 5000, 'first term');
    await election.resign();
    await eventually(() => rec.terms[0]!.ended, 5000, 'first term ended');
    expect(rec.terms[0]!.reason).toBeInstanceOf(HoldLostError);
    await eventually(() => rec.terms.length === 2, 5000, 'second term');
    stop.abort();
    await done;
    expect(rec.overlaps).toBe(0);
  });
});

describe('election.lead() across an etcd restart', () => {
  const etcd = usePrivateEtcd({ members: 1 });

  it('keeps leading: after an outage longer than the TTL, a new term on a new session', async () => {
    const client = etcd.client();
    const session = await etcd.session(client, { ttl: 2 });
    const name = `${uniquePrefix('lead')}election`;
    const log = uniquePrefix('lead-log');
    const rec = recordingWork(client, log);
    const errors: unknown[] = [];
    const stop = new AbortController();
    const done = new Election(session, name).lead(rec.work, {
      signal: stop.signal,
      onError: (err) => errors.push(err),
      backoff: { minDelayMs: 50, maxDelayMs: 500 },
    });
    await eventually(() => rec.terms.length === 1, 5000, 'first term');
    await sleep(200);
    const member = etcd.cluster().members[0]!;
    await member.kill('SIGKILL');
    try {
      await eventually(() => rec.terms[0]!.ended, 5000, 'the first term to end with the session');
      await sleep(1000); // lead() keeps trying while etcd is down
    } finally {
      await member.start();
    }
    await eventually(() => rec.terms.length === 2, 15_000, 'a term after the restart');
    await sleep(200);
    stop.abort();
    await done;
    expect(rec.terms[0]!.reason).toBeInstanceOf(SessionExpiredError);
    expect(rec.terms[1]!.token).toBeGreaterThan(rec.terms[0]!.token);
    expect(errors.length).toBeGreaterThan(0); // the outage was reported, not fatal
    expect(rec.overlaps).toBe(0);
    expect(await expectTermsOrderedByEtcd(client, log)).toEqual([rec.terms[0]!.token, rec.terms[1]!.token]);
  }, 40_000);
});
