import { EtcdLeaseInvalidError, type Etcd3 } from 'etcd3';
import type { Observable } from 'rxjs';
import { untilAborted } from '../etcd/abort.js';
import { translateError } from '../etcd/etcd-errors.js';
import { patiently, retryIdempotent } from '../etcd/retry.js';
import { InvalidArgumentError, NotLeaderError } from '../errors.js';
import { addSuppressed, deleteIfCreated } from '../queue/guarded.js';
import { Hold } from '../queue/hold.js';
import type { HeldWork } from '../queue/hold-forever.js';
import { prefixOf, sessionKey, validateName } from '../queue/keys.js';
import { enqueue, leftBehind } from '../queue/queue.js';
import { SharedWait } from '../queue/shared-wait.js';
import type { Session } from '../session/session.js';
import { validateSession } from '../session/validate.js';
import { Candidacy } from './candidacy.js';
import { type LeadOptions, leadElection } from './lead.js';
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
    const { signal } = options;
    const c = this.candidacy;
    signal?.throwIfAborted();
    this.session.throwIfEnded();
    let hold = c.currentHold;
    while (!hold) {
      const unreleased = c.hold?.releaseRequested ? c.hold : undefined;
      if (unreleased) {
        // A resign whose delete failed may have run: finish it before campaigning again.
        await patiently(() => c.releaseHold(unreleased), this.session.signal, signal);
      } else if (c.resigning) {
        await untilAborted(c.resigning.catch(noop), signal);
      } else if (c.pending?.withdrawn) {
        await untilAborted(c.pending.promise.catch(noop), signal);
      } else {
        // A campaign of this session under way is joined (each caller under its own signal)
        // rather than raced for the same key.
        hold = await (c.pending ?? this.start(value)).join(signal);
      }
      hold ??= c.currentHold;
    }
    // Campaigning again while leader keeps the leadership and updates the value (Go's behaviour).
    await this.proclaimIfChanged(value);
    return hold;
  }

  /**
   * Sets the leader's value. Guarded by the own key's create revision, so it only ever writes while
   * this session is still the leader; otherwise rejects with `NotLeaderError`.
   */
  async proclaim(value: string | Buffer): Promise<void> {
    checkValue(value);
    const c = this.candidacy;
    const term = c.term;
    if (term === undefined || term === null) {
      throw new NotLeaderError(
        this.name,
        undefined,
        `Election "${this.name}": this session is not the leader${c.pending ? ' (its campaign is still waiting)' : ''}; campaign() first`,
      );
    }
    const client = this.session.client;
    const key = Buffer.from(this.key);
    const data = Buffer.from(value);
    let succeeded: boolean;
    try {
      const res = await retryIdempotent(() =>
        client.kv.txn({
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: term.toString() }],
          success: [{ request_put: { key, value: data, lease: this.session.leaseId } }],
          failure: [],
        }),
      );
      succeeded = res.succeeded;
    } catch (err) {
      if (err instanceof EtcdLeaseInvalidError) {
        this.session.reportLeaseGone();
        this.session.throwIfEnded();
      }
      throw translateError(err, client, this.key);
    }
    if (!succeeded) {
      if (c.term === term) c.term = undefined;
      throw new NotLeaderError(
        this.name,
        term,
        `Election "${this.name}": leadership is lost, key "${this.key}" (term ${term}) no longer exists: ` +
          `its lease ended or another client deleted it; campaign() again`,
      );
    }
    c.value = data;
  }

  /**
   * Gives up the leadership (or withdraws a waiting campaign, which then rejects with an
   * `AbortError`): deletes the own key, guarded by its create revision, so the next candidate
   * leads after one watch event. A no-op when this session is not a candidate. If the delete
   * fails (etcd unreachable) it rejects and keeps its state, so calling it again finishes the job.
   */
  async resign(): Promise<void> {
    const c = this.candidacy;
    while (c.resigning) await c.resigning.catch(noop);
    const resigning = this.withdrawAndResign();
    c.resigning = resigning;
    try {
      await resigning;
    } finally {
      if (c.resigning === resigning) c.resigning = undefined;
    }
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

  /** Withdraws a waiting campaign, then deletes the own key if this session has one. */
  private async withdrawAndResign(): Promise<void> {
    const c = this.candidacy;
    const pending = c.pending;
    if (pending) {
      pending.withdraw(
        new DOMException(`The campaign in election "${this.name}" was withdrawn by resign()`, 'AbortError'),
      );
      const failure = await pending.promise.then(
        () => undefined,
        (err: unknown) => err,
      );
      // The queue deletes the key of a withdrawn campaign; if that failed (etcd unreachable), it
      // said so on the error, with the key's revision when known. Until a delete succeeds, the
      // term makes the next resign() try again (`null`: revision unknown, guarded by our lease —
      // safe, as no campaign of this session can start before this resign ends).
      if (failure !== undefined && leftBehind(failure) !== undefined && this.session.isActive) {
        c.term = leftBehind(failure)?.createRevision ?? null;
      }
    }
    const hold = c.hold;
    if (hold) {
      await c.releaseHold(hold);
      return;
    }
    const term = c.term;
    if (term !== undefined && this.session.isActive) {
      // An earlier resign failed: finish it.
      await this.deleteOwnKey(term);
      if (c.term === term) c.term = undefined;
    }
  }

  /** Starts this session's campaign, which every campaign() of the session joins until it ends. */
  private start(value: string | Buffer): SharedWait<Hold> {
    const c = this.candidacy;
    const wait = new SharedWait<Hold>(
      (signal) => this.run(value, signal),
      (late) => c.releaseHold(late).catch(noop), // won as it was withdrawn: resign() handles a failure
    );
    c.pending = wait;
    const clear = () => {
      if (c.pending === wait) c.pending = undefined;
    };
    wait.promise.then(clear, clear);
    return wait;
  }

  /** The campaign: queue up behind the older candidates and lead when none is left ahead. */
  private async run(value: string | Buffer, signal: AbortSignal): Promise<Hold> {
    const c = this.candidacy;
    // The queue builds the hold in the instant the wait succeeds and checks the own key then
    // (Go never re-checks: etcd#11051); from then on the hold watches it.
    const hold: Hold = await enqueue(
      {
        session: this.session,
        prefix: this.prefix,
        key: this.key,
        value,
        isReady: (ahead) => ahead.length === 0,
        exclusive: true,
        probe: { prefix: this.prefix, limit: 1 },
        origin: { primitive: 'election', name: this.name },
        signal,
      },
      (ticket) => {
        c.value = ticket.kv.value;
        let built: Hold | undefined = undefined;
        built = new Hold(this.session, ticket, () => {
          if (built) c.ended(built);
        });
        return built;
      },
    );
    c.hold = hold;
    c.term = hold.fencingToken;
    try {
      // The key existed already (another Election object or process on this lease made it):
      // take it over with our value, as Go does, before reporting leadership.
      await this.proclaimIfChanged(value);
    } catch (err) {
      // Never leave a candidate behind (etcd#21128). Not resign(): it would wait for this campaign.
      if (c.hold === hold) c.hold = undefined;
      await hold.release().then(
        () => {
          if (c.term === hold.fencingToken) c.term = undefined;
        },
        (cleanup: unknown) => {
          addSuppressed(err, cleanup); // the term stays: resign() deletes the key
        },
      );
      throw err;
    }
    if (hold.signal.aborted) throw hold.signal.reason as Error; // lost while proclaiming
    c.setLeading(true);
    return hold;
  }

  private async proclaimIfChanged(value: string | Buffer): Promise<void> {
    if (this.candidacy.value?.equals(Buffer.from(value))) return;
    await this.proclaim(value);
  }

  /** Deletes the own key: guarded by its create revision, or by our lease when it is unknown. */
  private async deleteOwnKey(term: bigint | null): Promise<void> {
    const client = this.session.client;
    if (term !== null) {
      await deleteIfCreated(client, this.key, term);
      return;
    }
    const key = Buffer.from(this.key);
    try {
      await retryIdempotent(() =>
        client.kv.txn({
          compare: [{ key, target: 'Lease', result: 'Equal', lease: this.session.leaseId }],
          success: [{ request_delete_range: { key } }],
          failure: [],
        }),
      );
    } catch (err) {
      throw translateError(err, client, this.key);
    }
  }
}

function checkValue(value: unknown): void {
  if (typeof value !== 'string' && !Buffer.isBuffer(value)) {
    throw new InvalidArgumentError(`Election value must be a string or a Buffer, got ${typeof value}`);
  }
}

function noop(): void {
  /* nothing */
}
