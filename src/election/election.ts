import type { Etcd3 } from 'etcd3';
import type { Observable } from 'rxjs';
import { prefixOf, sessionKey, validateName } from '../queue/keys.js';
import { validateSession } from '../session/validate.js';
import { InvalidArgumentError } from '../errors.js';
import type { Hold } from '../queue/hold.js';
import type { Session } from '../session/session.js';
import { Candidacy } from './candidacy.js';
import { type LeadOptions, leadElection } from './lead.js';
import { type HeldWork } from '../queue/hold-forever.js';
import { type LeaderInfo, readLeader } from './leader.js';
import { observeLeader } from './observe.js';

/** Options of {@link Election.campaign}. */
export interface CampaignOptions {
  /** Abandons the campaign: the promise rejects with the signal's reason and no key is left behind. */
  signal?: AbortSignal;
}

/**
 * Leader election with Go's `concurrency.Election` semantics and key layout: candidates are the
 * keys `name/<lease id in hex>` on their sessions' leases, the leader is the oldest, and its value
 * is what it campaigned with or last proclaimed. `etcdctl elect name` and Go services using
 * `concurrency.NewElection(s, name)` take part in the same election.
 *
 * Candidates are elected in campaign order, each woken by one watch event when the one before it
 * resigns or its lease ends; nobody polls. A session has one key per election, so every Election
 * object of one session and name shares one candidacy: a second campaign joins the first, and
 * `resign()` from any of them withdraws the session.
 *
 * Leadership rests on a lease: a leader paused for longer than its TTL is no longer leader when it
 * wakes. Guard the leader's writes with `hold.txn()` (they commit only while the leadership key
 * still exists) or hand `hold.fencingToken` to the systems it writes to, and stop leading work
 * when `hold.signal` aborts or {@link isLeader$} emits false.
 *
 * @example
 * ```ts
 * const election = new Election(session, 'election/workers');
 * const hold = await election.campaign('worker-1');          // resolves once leader
 * await hold.txn().then(client.put('config/owner').value('worker-1')).commit();
 * await election.proclaim('worker-1 at v2');
 * await election.resign();                                   // the next candidate leads at once
 * ```
 */
export class Election {
  /** The name given at construction. */
  readonly name: string;
  /** The prefix the candidates' keys live under: `name + '/'`. */
  readonly prefix: string;
  /** This session's key: `prefix + hex(leaseId)`. */
  readonly key: string;
  private readonly candidacy: Candidacy;

  constructor(
    readonly session: Session,
    name: string,
  ) {
    validateSession(session, 'Election');
    validateName(name, 'Election');
    this.name = name;
    this.prefix = prefixOf(name);
    this.key = sessionKey(this.prefix, session.leaseId);
    this.candidacy = Candidacy.of(session, name, this.key, this.prefix);
  }

  /**
   * Becomes a candidate with `value` and resolves once this session is the leader, with the
   * leadership as a {@link Hold}: its `signal` aborts when the leadership is lost (the session
   * ended, or another client deleted the key), `txn()` commits only while it lasts, and
   * `fencingToken` is the term (the key's create revision). `hold.release()` resigns.
   *
   * Campaigning again while leader (or while a campaign of this session waits) joins it and
   * proclaims `value` if it differs, as Go does. If this session's key already exists (a Go
   * process or another Election object on the same lease made it), the campaign takes it over.
   *
   * Rejects with the signal's reason if aborted (the key is removed), with
   * `SessionExpiredError`/`SessionClosedError` if the session ends first, with `HoldLostError` if
   * another client deletes the key while it waits.
   */
  async campaign(value: string | Buffer, options: CampaignOptions = {}): Promise<Hold> {
    checkValue(value);
    return this.candidacy.campaign(value, options.signal);
  }

  /**
   * Sets the leader's value. Guarded by the own key's create revision, so it only ever writes while
   * this session is still the leader; otherwise rejects with `NotLeaderError`.
   */
  async proclaim(value: string | Buffer): Promise<void> {
    checkValue(value);
    return this.candidacy.proclaim(value);
  }

  /**
   * Gives up the leadership (or withdraws a waiting campaign, which then rejects with an
   * `AbortError`): deletes the own key, guarded by its create revision, so the next candidate
   * leads after one watch event. A no-op when this session is not a candidate. If the delete
   * fails (etcd unreachable) it rejects and keeps its state, so calling it again finishes the job.
   */
  resign(): Promise<void> {
    return this.candidacy.resign();
  }

  /**
   * Leads forever: campaigns, runs `fn(signal, hold)` while leader, and when the leadership or the
   * session is lost aborts `fn`'s signal, waits for `fn` to settle, and campaigns again — on a new
   * session on the same client once this one has ended — until `options.signal` aborts; then it
   * resigns, closes the sessions it created and resolves. Terms never overlap within one loop and
   * each has a higher `hold.fencingToken` than the last. `fn` returning (or throwing, with
   * `onError`) gives the leadership up and campaigns again after a backoff; throwing without
   * `onError` stops the loop and rejects with the error. See {@link LeadOptions}.
   *
   * @example
   * ```ts
   * const stop = new AbortController();
   * await election.lead(async (signal, hold) => {
   *   await runScheduler({ signal, fencingToken: hold.fencingToken });   // until signal aborts
   * }, { signal: stop.signal, onError: (err) => log.warn(err) });
   * ```
   */
  lead(fn: HeldWork, options: LeadOptions = {}): Promise<void> {
    return leadElection(this, (session) => new Election(session, this.name), fn, options);
  }

  /** The current leader, from one linearizable read; rejects with `NoLeaderError` if there is none. */
  leader(): Promise<LeaderInfo> {
    return readLeader(this.session.client, this.name, this.prefix);
  }

  /** The current leader of election `name`, without a session; `NoLeaderError` if there is none. */
  static leader(client: Etcd3, name: string): Promise<LeaderInfo> {
    validateName(name, 'Election');
    return readLeader(client, name, prefixOf(name));
  }

  /**
   * The leader as it changes: first the leader (or `null`) as of a read made after subscribing, then
   * each new leader, each proclaimed value (also several that land in one watch batch) and `null`
   * whenever nobody leads — in revision order, never the same state twice. It survives reconnects
   * (the watch resumes where it stopped) and compaction (it re-reads, and states inside the
   * compacted gap are skipped). Errors only if the client is closed or etcd refuses the watch.
   * Unsubscribing releases the watch. Needs no session: see {@link Election.observe} (static).
   */
  observe(): Observable<LeaderInfo | null> {
    return observeLeader(this.session.client, this.prefix);
  }

  /** {@link Election#observe} for election `name` on `client`, for observers that never campaign. */
  static observe(client: Etcd3, name: string): Observable<LeaderInfo | null> {
    validateName(name, 'Election');
    return observeLeader(client, prefixOf(name));
  }

  /**
   * Whether this session leads the election: replays the current answer to each subscriber, then
   * emits `true` when a campaign wins and `false` as soon as the leadership ends — resign, session
   * loss, or the key deleted by another client. Completes (after `false`) when the session ends.
   */
  get isLeader$(): Observable<boolean> {
    return this.candidacy.isLeader$;
  }

  /** The current answer of {@link isLeader$}. */
  get isLeader(): boolean {
    return this.candidacy.isLeader;
  }

  /** The leadership while this session leads, else undefined. */
  get hold(): Hold | undefined {
    return this.candidacy.currentHold;
  }
}

function checkValue(value: unknown): void {
  if (typeof value !== 'string' && !Buffer.isBuffer(value)) {
    throw new InvalidArgumentError(`Election value must be a string or a Buffer, got ${typeof value}`);
  }
}
