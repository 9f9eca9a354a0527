import { describe, expect, it } from 'vitest';
import {
  Election,
  HoldLostError,
  InvalidArgumentError,
  NoLeaderError,
  NotLeaderError,
  Session,
  SessionClosedError,
  SessionExpiredError,
} from '../../src/index.js';
import { useEtcd, keysUnder, waitForKeys } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { expectWellOrdered, record, valuesOf } from './record.js';

const etcd = useEtcd();

const leaseHex = (id: string) => BigInt(id).toString(16);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `signal` has aborted (at once if it already has). */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((r) => signal.addEventListener('abort', () => r(), { once: true }));
}

/** A promise with a flag saying whether it settled yet. */
function track<T>(promise: Promise<T>) {
  const state = { settled: false, promise };
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

describe('Election', () => {
  it('elects a lone candidate under Go’s key layout, and leader() reports it', async () => {
    const client = etcd.client();
    const session = await etcd.session(client);
    const name = `${uniquePrefix('election')}solo`;
    const election = new Election(session, name);
    expect(election.key).toBe(`${name}/${leaseHex(session.leaseId)}`);
    expect(election.isLeader).toBe(false);
    const hold = await election.campaign('worker-1');
    expect(election.isLeader).toBe(true);
    expect(election.hold).toBe(hold);
    const kv = (await client.get(election.key).exec()).kvs[0]!;
    expect(kv.value.toString()).toBe('worker-1');
    expect(kv.lease).toBe(session.leaseId);
    expect(hold.key).toBe(election.key);
    expect(hold.fencingToken).toBe(BigInt(kv.create_revision));
    const leader = await election.leader();
    expect(leader).toEqual({
      key: election.key,
      value: 'worker-1',
      createRevision: hold.fencingToken,
      modRevision: BigInt(kv.mod_revision),
      leaseId: session.leaseId,
    });
    expect(await Election.leader(etcd.client(), name)).toEqual(leader);
    await election.resign();
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
    expect(election.isLeader).toBe(false);
    expect(election.hold).toBeUndefined();
  });

  it('keeps a follower waiting until the leader resigns, then hands over', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('election')}handoff`;
    const a = new Election(await etcd.session(client), name);
    const b = new Election(await etcd.session(client), name);
    const aLeads = record(a.isLeader$);
    const bLeads = record(b.isLeader$);
    const holdA = await a.campaign('a');
    const pendingB = track(b.campaign('b'));
    await waitForKeys(client, `${name}/`, 2);
    await sleep(200);
    expect(pendingB.settled).toBe(false);
    expect(b.isLeader).toBe(false);
    expect((await b.leader()).value).toBe('a');
    await a.resign();
    const holdB = await pendingB.promise;
    expect(holdB.fencingToken).toBeGreaterThan(holdA.fencingToken);
    expect((await a.leader()).value).toBe('b');
    expect(await keysUnder(client, `${name}/`)).toEqual([b.key]);
    // A graceful resign is not a loss: the old leader's signal stays quiet.
    expect(holdA.signal.aborted).toBe(false);
    expect(aLeads.values).toEqual([false, true, false]);
    expect(bLeads.values).toEqual([false, true]);
    await b.resign();
    expect(bLeads.values).toEqual([false, true, false]);
    await expect(a.leader()).rejects.toBeInstanceOf(NoLeaderError);
  });

  it('elects five candidates in campaign order as each resigns', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('election')}order`;
    const first = new Election(await etcd.session(client), name);
    await first.campaign('c0');
    const elected: string[] = [];
    const candidates: { election: Election; won: Promise<void> }[] = [];
    for (let i = 1; i <= 5; i++) {
      const election = new Election(await etcd.session(client), name);
      const won = election.campaign(`c${i}`).then(() => {
        elected.push(`c${i}`);
      });
      await waitForKeys(client, `${name}/`, i + 1); // strictly one after another
      candidates.push({ election, won });
    }
    const observed = record(Election.observe(client, name));
    await observed.until((v) => v.length === 1, 'the first leader');
    await first.resign();
    for (const [i, { election, won }] of candidates.entries()) {
      await won;
      expect(elected).toEqual(Array.from({ length: i + 1 }, (_, j) => `c${j + 1}`));
      expect((await election.leader()).value).toBe(`c${i + 1}`);
      await election.resign();
    }
    await observed.until((v) => v.at(-1) === null, 'no leader at the end');
    expect(valuesOf(observed.values)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5', null]);
    expectWellOrdered(observed.values);
    observed.stop();
  });

  it('lets the leader proclaim and refuses a non-leader with NotLeaderError', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('election')}proclaim`;
    const leader = new Election(await etcd.session(client), name);
    const follower = new Election(await etcd.session(client), name);
    const bystander = new Election(await etcd.session(client), name);
    const notCandidate = await bystander.proclaim('nobody asked').catch((e: unknown) => e);
    expect(notCandidate).toBeInstanceOf(NotLeaderError);
    expect(notCandidate).toMatchObject({ name: 'NotLeaderError', name_: name, term: undefined });
    const hold = await leader.campaign('v1');
    await leader.proclaim('v2');
    expect((await leader.leader()).value).toBe('v2');
    const waiting = follower.campaign('f');
    await waitForKeys(client, `${name}/`, 2);
    const err = await follower.proclaim('usurper').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotLeaderError);
    expect(err).toMatchObject({ name_: name, term: undefined });
    expect((err as Error).message).toContain(name);
    expect((await leader.leader()).value).toBe('v2');
    expect(await client.get(follower.key).string()).toBe('f');
    // Once another client deleted the leader's key, its proclaim is refused by etcd's guard.
    await etcd.client().delete().key(leader.key);
    const lost = await leader.proclaim('v3').catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(NotLeaderError);
    // The facts: which election, and the term whose leadership turned out to be gone.
    expect(lost).toMatchObject({ name: 'NotLeaderError', name_: name, term: hold.fencingToken });
    expect((lost as Error).message).toContain(`term ${hold.fencingToken}`);
    expect(await client.get(leader.key).string()).toBeNull();
    await aborted(hold.signal);
    expect(hold.signal.reason).toBeInstanceOf(HoldLostError);
    await waiting;
    await expect(leader.proclaim('v4')).rejects.toBeInstanceOf(NotLeaderError);
    await follower.resign();
  });

  it('rejects leader() with NoLeaderError when nobody leads', async () => {
    const session = await etcd.session();
    const name = `${uniquePrefix('election')}empty`;
    const err = await new Election(session, name).leader().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoLeaderError);
    expect((err as Error).message).toContain(name);
    // A key that merely shares the name as a string prefix is not a candidate (Go's #6278).
    await session.client.put(`${name}x/1`).value('not a candidate');
    await expect(Election.leader(session.client, name)).rejects.toBeInstanceOf(NoLeaderError);
  });

  it('keeps leadership and updates the value when the same session campaigns again', async () => {
    const client = etcd.client();
    const session = await etcd.session(client);
    const name = `${uniquePrefix('election')}recampaign`;
    const election = new Election(session, name);
    const hold = await election.campaign('abc');
    expect(await election.campaign('abc')).toBe(hold);
    // Another Election object of the same session and name shares the candidacy (Go's
    // TestElectionSessionRecampaign): no deadlock, same term, the new value.
    const again = new Election(session, name);
    expect(again.isLeader).toBe(true);
    expect(await again.campaign('def')).toBe(hold);
    const leader = await election.leader();
    expect(leader.value).toBe('def');
    expect(leader.createRevision).toBe(hold.fencingToken);
    expect(await keysUnder(client, `${name}/`)).toEqual([election.key]);
    await again.resign();
    expect(election.isLeader).toBe(false);
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  });

  it('lets a new session on the leader’s lease take over its key at once', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('election')}restart`;
    const first = await etcd.session(client);
    const hold = await new Election(first, name).campaign('abc');
    const waiting = new Election(await etcd.session(client), name)
      .campaign('other', { signal: AbortSignal.timeout(1000) })
      .catch((e: unknown) => e);
    const resumed = await etcd.session(client, { leaseId: first.leaseId });
    const election = new Election(resumed, name);
    const taken = await election.campaign('def');
    expect(taken.fencingToken).toBe(hold.fencingToken);
    expect((await election.leader()).value).toBe('def');
    // The other candidate was never elected: the takeover kept the leader's place.
    expect(await waiting).toMatchObject({ name: 'TimeoutError' });
  });

  it('observes the leader, 50 proclamations in order without duplicates, the next leader and null', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('election')}observe`;
    const a = new Election(await etcd.session(client), name);
    const b = new Election(await etcd.session(client), name);
    const observed = record(a.observe());
    await observed.until((v) => v.length === 1, 'the initial state');
    expect(observed.values).toEqual([null]);
    await a.campaign('p0');
    for (let i = 1; i <= 50; i++) await a.proclaim(`p${i}`);
    // A burst of proclamations in flight together: each is a state of its own.
    await Promise.all(Array.from({ length: 10 }, (_, i) => a.proclaim(`burst${i}`)));
    const waiting = b.campaign('b0');
    await waitForKeys(client, `${name}/`, 2);
    await a.resign();
    await waiting;
    await b.resign();
    await observed.until((v) => v.length === 64, '64 states');
    await sleep(200);
    const values = valuesOf(observed.values);
    expect(values.slice(0, 52)).toEqual([null, ...Array.from({ length: 51 }, (_, i) => `p${i}`)]);
    expect(new Set(values.slice(52, 62))).toEqual(new Set(Array.from({ length: 10 }, (_, i) => `burst${i}`)));
    expect(values.slice(62)).toEqual(['b0', null]);
    expectWellOrdered(observed.values);
    expect(observed.values[1]!.key).toBe(a.key);
    expect(observed.values[62]!.key).toBe(b.key);
    expect(observed.values[62]!.createRevision).toBeGreaterThan(observed.values[1]!.createRevision);
    expect(observed.error).toBeUndefined();
    observed.stop();
  });

  it('starts observe() from a read made after subscribing', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('election')}fresh`;
    const election = new Election(await etcd.session(client), name);
    // A long-lived observer keeps the client's mirror of the prefix open.
    const early = record(election.observe());
    await early.until((v) => v.length === 1, 'the initial state');
    await election.campaign('v1');
    for (let i = 2; i <= 5; i++) {
      await election.proclaim(`v${i}`);
      const late = record(Election.observe(client, name));
      await late.until((v) => v.length > 0, 'a first value');
      expect(valuesOf(late.values)).toEqual([`v${i}`]);
      late.stop();
    }
    await early.until((v) => v.at(-1)?.value === 'v5', 'v5');
    expect(valuesOf(early.values)).toEqual([null, 'v1', 'v2', 'v3', 'v4', 'v5']);
    early.stop();
    await election.resign();
  });

  it('reports a transaction on several candidate keys as one state', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('election')}txn`;
    const a = new Election(await etcd.session(client), name);
    const b = new Election(await etcd.session(client), name);
    await a.campaign('a');
    const waiting = b.campaign('b');
    await waitForKeys(client, `${name}/`, 2);
    const observed = record(Election.observe(client, name));
    await observed.until((v) => v.length === 1, 'a');
    // One revision: the leader's key is deleted and the next candidate's value changes.
    const session = b.session;
    await client
      .if(a.key, 'Create', '>', 0)
      .then(client.delete().key(a.key), client.put(b.key).value('b2').lease(session.leaseId))
      .commit();
    await observed.until((v) => v.at(-1)?.value === 'b2', 'b2');
    await sleep(100);
    expect(valuesOf(observed.values)).toEqual(['a', 'b2']);
    observed.stop();
    const hold = await waiting;
    expect(hold.key).toBe(b.key);
    await b.resign();
  });

  it('promotes the next candidate within TTL + one round trip when the leader’s process dies', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('election')}crash`;
    const ttl = 2;
    const leaderSession = await etcd.session(client, { ttl });
    const leader = new Election(leaderSession, name);
    const leading = record(leader.isLeader$);
    const hold = await leader.campaign('doomed');
    const next = new Election(await etcd.session(client), name);
    const won = next.campaign('next');
    await waitForKeys(client, `${name}/`, 2);
    // The process stops renewing its lease, as if it crashed: etcd ends the lease after the TTL.
    leaderSession.orphan();
    const stoppedAt = Date.now();
    expect(leading.values).toEqual([false, true, false]);
    expect(leading.completed).toBe(true);
    expect(hold.signal.aborted).toBe(true);
    expect(hold.signal.reason).toBeInstanceOf(SessionClosedError);
    await won;
    const elapsed = Date.now() - stoppedAt;
    // etcd's lessor checks expiry every 500 ms; the handoff itself is one watch event.
    expect(elapsed).toBeLessThan(ttl * 1000 + 1000);
    expect(elapsed).toBeGreaterThan(ttl * 1000 - 1100);
    expect(next.isLeader).toBe(true);
    await next.resign();
  });

  it('flips isLeader$ and aborts the hold when the leader’s lease is revoked elsewhere', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('election')}revoked`;
    const leaderSession = await etcd.session(client, { ttl: 30 });
    const leader = new Election(leaderSession, name);
    const leading = record(leader.isLeader$);
    const hold = await leader.campaign('l');
    const next = new Election(await etcd.session(client), name);
    const won = next.campaign('n');
    await waitForKeys(client, `${name}/`, 2);
    const revokedAt = Date.now();
    await etcd.client().leaseClient.leaseRevoke({ ID: leaderSession.leaseId });
    await won; // the revoke deleted the key: one watch event
    expect(Date.now() - revokedAt).toBeLessThan(3000);
    await leading.until((v) => v.at(-1) === false, 'isLeader$ false', 3000);
    expect(leading.values).toEqual([false, true, false]);
    expect(hold.signal.reason).toBeInstanceOf(SessionExpiredError);
    await expect(leader.proclaim('still me?')).rejects.toBeInstanceOf(NotLeaderError);
    await next.resign();
  });

  it('flips isLeader$ when another client deletes the leader’s key', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('election')}deleted`;
    const session = await etcd.session(client);
    const election = new Election(session, name);
    const leading = record(election.isLeader$);
    const hold = await election.campaign('x');
    await etcd.client().delete().key(election.key);
    await leading.until((v) => v.at(-1) === false, 'isLeader$ false');
    expect(hold.signal.reason).toBeInstanceOf(HoldLostError);
    expect(session.isActive).toBe(true);
    expect(leading.completed).toBe(false);
    // It can campaign again, for a new term.
    const again = await election.campaign('x');
    expect(again.fencingToken).toBeGreaterThan(hold.fencingToken);
    expect(leading.values).toEqual([false, true, false, true]);
    await election.resign();
  });

  it('leaves no key when a campaign is aborted, times out or is withdrawn by resign()', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('election')}abort`;
    const leader = new Election(await etcd.session(client), name);
    await leader.campaign('leader');
    const candidate = new Election(await etcd.session(client), name);
    const timedOut = await candidate
      .campaign('c', { signal: AbortSignal.timeout(300) })
      .catch((e: unknown) => e);
    expect((timedOut as Error).name).toBe('TimeoutError');
    expect(await keysUnder(client, `${name}/`)).toEqual([leader.key]);
    const controller = new AbortController();
    const aborted = candidate.campaign('c', { signal: controller.signal });
    await waitForKeys(client, `${name}/`, 2);
    controller.abort(new Error('changed my mind'));
    await expect(aborted).rejects.toThrow('changed my mind');
    expect(await keysUnder(client, `${name}/`)).toEqual([leader.key]);
    await expect(candidate.campaign('c', { signal: AbortSignal.abort(new Error('early')) })).rejects.toThrow(
      'early',
    );
    const withdrawn = candidate.campaign('c').catch((e: unknown) => e);
    await waitForKeys(client, `${name}/`, 2);
    await candidate.resign();
    expect(await withdrawn).toMatchObject({ name: 'AbortError' });
    expect(await keysUnder(client, `${name}/`)).toEqual([leader.key]);
    expect(candidate.isLeader).toBe(false);
    await leader.resign();
  });

  it('rejects a waiting campaign when its session ends, leaving no key', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('election')}sessionend`;
    const leader = new Election(await etcd.session(client), name);
    await leader.campaign('leader');
    const session = await etcd.session(client);
    const pending = new Election(session, name).campaign('c').catch((e: unknown) => e);
    await waitForKeys(client, `${name}/`, 2);
    await session.close();
    expect(await pending).toBeInstanceOf(SessionClosedError);
    expect(await keysUnder(client, `${name}/`)).toEqual([leader.key]);
    await expect(new Election(session, name).campaign('c')).rejects.toBeInstanceOf(SessionClosedError);
    await leader.resign();
  });

  it('keeps its state when resign() fails, so that a retry resigns', async () => {
    const name = `${uniquePrefix('election')}retry`;
    const broken = etcd.client();
    const session = await etcd.session(broken, { ttl: 30 });
    const election = new Election(session, name);
    const hold = await election.campaign('v');
    const observer = etcd.client();
    // Make every KV call of this client fail, as if etcd were unreachable: etcd3's calls and the
    // library's lean transactions (src/etcd/txn.ts) all go through the pool's withConnection.
    const pool = (
      broken as unknown as {
        pool: { withConnection: (service: string, ...rest: unknown[]) => Promise<unknown> };
      }
    ).pool;
    const withConnection = pool.withConnection.bind(pool);
    pool.withConnection = (service, ...rest) =>
      service === 'KV'
        ? Promise.reject(new Error('etcd is unreachable (simulated)'))
        : withConnection(service, ...rest);
    await expect(election.resign()).rejects.toThrow('unreachable');
    expect(await keysUnder(observer, `${name}/`)).toEqual([hold.key]);
    expect(election.isLeader).toBe(false);
    pool.withConnection = withConnection;
    // Still allowed: the key of this term is still ours, and the guard proves it.
    await election.proclaim('w');
    expect(await observer.get(hold.key).string()).toBe('w');
    await election.resign();
    expect(await keysUnder(observer, `${name}/`)).toEqual([]);
    await election.resign(); // a no-op now
  });

  it('rejects bad names and values with InvalidArgumentError', async () => {
    const session = await etcd.session();
    for (const name of ['', 'election/', 42, undefined, 'a\0b']) {
      expect(() => new Election(session, name as string)).toThrow(InvalidArgumentError);
      expect(() => Election.observe(session.client, name as string)).toThrow(InvalidArgumentError);
    }
    const election = new Election(session, `${uniquePrefix('election')}values`);
    await expect(election.campaign(42 as unknown as string)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(election.proclaim(undefined as unknown as string)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });

  it('accepts a Session made elsewhere and its election objects share one candidacy', async () => {
    const client = etcd.client();
    const session = await Session.create(client, { ttl: 10 });
    etcd.defer(() => session.close());
    const name = `${uniquePrefix('election')}shared`;
    const one = new Election(session, name);
    const two = new Election(session, name);
    const [h1, h2] = await Promise.all([one.campaign('x'), two.campaign('x')]);
    expect(h2).toBe(h1);
    expect(two.isLeader).toBe(true);
    await two.resign();
    expect(one.isLeader).toBe(false);
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
  });
});
