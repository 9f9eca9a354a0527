import { performance } from 'node:perf_hooks';
import type { Etcd3 } from 'etcd3';
import { EtcdLeaseInvalidError, Namespace } from 'etcd3';
import { type Observable, ReplaySubject, Subject } from 'rxjs';
import { translateError } from '../etcd/etcd-errors.js';
import { InvalidArgumentError, SessionClosedError, SessionExpiredError, leaseHex } from '../errors.js';
import { untilAborted, untilAbortedOrUndo } from '../etcd/abort.js';
import { clientState } from '../etcd/client-state.js';
import { validateClient, validateSignal } from '../etcd/validate.js';
import { KeepAliveHub, type KeepAliveListener, normalizeId } from './keepalive-hub.js';
import { RenewalTracker, renewalTiming, type RenewalSend } from './renewals.js';
import { sessionEnded, sessionRenewed, sessionSuspended } from '../diagnostics/publish.js';
import { isNoLeader } from '../etcd/require-leader.js';

/** The life of a session: see {@link Session.state$}. */
export type SessionState = 'alive' | 'suspended' | 'lost' | 'closed';

/** One acknowledged renewal of the session's lease. */
export interface KeepAliveEvent {
  /** TTL in seconds the server granted from this renewal on. */
  ttl: number;
  /** etcd's revision when the renewal was answered. */
  revision: bigint;
}

/** Options of {@link Session.create}. */
export interface SessionOptions {
  /**
   * Lease TTL in whole seconds. Ignored when `leaseId` is given.
   * @default 60
   */
  ttl?: number;
  /** Attach to this existing lease instead of granting a new one (decimal, as etcd3 gives ids). */
  leaseId?: string;
  /** Cancels creation; a lease granted meanwhile is revoked. */
  signal?: AbortSignal;
  /**
   * How long before the computed expiry the session declares itself lost, in milliseconds.
   * @default a tenth of the TTL, at most 1000
   */
  safetyMarginMs?: number;
}

/** etcd's own ceiling on lease TTLs (MaxLeaseTTL). */
const MAX_TTL_SECONDS = 9_000_000_000;

/** The longest delay setTimeout holds; longer ones fire after 1 ms with a TimeoutOverflowWarning. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A lease kept alive in the background: the identity of a process in every lock, election and
 * semaphore built on it. When the lease cannot be alive any more the session is `lost`, exactly
 * once, and everything built on it learns at once through {@link Session.signal}.
 *
 * The loss deadline is the send time of the last acknowledged renewal + TTL − a safety margin,
 * on the monotonic clock, so it is never later than etcd's own expiry (etcd may keep a lease
 * longer, after a leader change, never shorter).
 *
 * Renewals go out every TTL/3, as Go's client sends them, so a fleet of sessions does not flood
 * etcd's leader (1,000 sessions at TTL 60: 50 renewals/s). A renewal unanswered for a second
 * (TTL/3 if shorter) makes the session `suspended`, and it is then repeated at that pace until
 * one is answered, so a short outage costs seconds, not the TTL. A lease revoked elsewhere is
 * noticed by the session at its next renewal, within TTL/3 — and at once by every hold built on
 * it, whose own key vanishes with the lease.
 *
 * Several sessions may attach to one lease on one client: each hears every renewal of it.
 * Closing one revokes the lease and so ends the others as lost; orphaning one leaves the others
 * running.
 *
 * @example
 * ```ts
 * await using session = await Session.create(createClient(), { ttl: 10 });
 * session.state$.subscribe((s) => console.log('session', s));
 * ```
 */
export class Session implements AsyncDisposable {
  /** The client the session was created on. */
  readonly client: Etcd3;
  /** The lease id, decimal as etcd3 gives it. */
  readonly leaseId: string;
  /** The lease's TTL in seconds as etcd granted it. */
  readonly ttl: number;
  /** Aborted when the session ends: reason {@link SessionExpiredError} or {@link SessionClosedError}. */
  readonly signal: AbortSignal;
  /** Resolves when the session ends; never rejects. */
  readonly done: Promise<void>;

  private readonly state = new ReplaySubject<SessionState>(1);
  private readonly renewals = new Subject<KeepAliveEvent>();
  private readonly abort = new AbortController();
  private readonly tracker: RenewalTracker;
  private readonly hub: KeepAliveHub;
  private readonly listener: KeepAliveListener;
  private current: SessionState = 'alive';
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt = Number.NaN;
  private unregister: (() => void) | undefined;
  private unhookClose: (() => void) | undefined;
  private resolveDone!: () => void;
  private closing: Promise<void> | undefined;
  /** Pending {@link confirmLease} calls, answered by the reply to renewal `confirmSeq`. */
  private readonly confirmations: ((alive: boolean) => void)[] = [];
  private confirmSeq: number | undefined;
  /** What broke the keep-alive stream, until a new one is up: why the session is suspended. */
  private streamError: Error | undefined;

  private constructor(client: Etcd3, leaseId: string, ttl: number, deadline: number, marginMs: number) {
    this.client = client;
    this.leaseId = leaseId;
    this.ttl = ttl;
    this.signal = this.abort.signal;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.tracker = new RenewalTracker(renewalTiming(ttl, marginMs), deadline, performance.now());
    this.state.next('alive');
    this.hub = KeepAliveHub.of(client);
    this.listener = {
      onRenewed: (ttlSeconds, revision, answers) => {
        this.tracker.replied(performance.now(), ttlSeconds, answers);
        if (!this.settle()) return;
        this.answered(answers);
        if (answers === undefined) return;
        sessionRenewed(this.leaseId, ttlSeconds, revision, answers.sentAt);
        this.renewals.next({ ttl: ttlSeconds, revision });
      },
      onStreamBroken: (error) => {
        this.streamError = error;
        this.tracker.broken(performance.now());
        this.confirmSeq = undefined;
        this.settle();
      },
      onStreamReady: () => {
        this.streamError = undefined;
        this.tracker.streamReady(performance.now());
        this.askConfirmation();
        this.wake();
      },
      onRevoked: () => {
        this.reportLeaseGone('another session on this client revoked the lease');
      },
    };
    this.unregister = this.hub.register(leaseId, this.listener);
    this.unhookClose = clientState(client).onClose(() => {
      this.orphan();
    });
    this.wake();
  }

  /**
   * Grants a lease (or attaches to `leaseId`) and keeps it alive until {@link close},
   * {@link orphan}, or loss.
   */
  static async create(client: Etcd3, options: SessionOptions = {}): Promise<Session> {
    validateClient(client, 'Session.create');
    validateSignal(options.signal, 'Session.create');
    if (client instanceof Namespace && (client as unknown as { prefix: Buffer }).prefix.length > 0) {
      throw new InvalidArgumentError(
        'Session.create needs the root Etcd3 client, not a namespace: etcd3 namespaces disagree between KV and watch',
      );
    }
    const { ttl = 60, leaseId, signal } = options;
    signal?.throwIfAborted();
    if (leaseId === undefined) validateTtl(ttl);
    const sentAt = performance.now();
    let id: string;
    let grantedTtl: number;
    let remainingMs: number;
    try {
      if (leaseId === undefined) {
        const res = await untilAbortedOrUndo(
          client.leaseClient.leaseGrant({ TTL: String(ttl), ID: '0' }),
          signal,
          (r) => client.leaseClient.leaseRevoke({ ID: r.ID }).catch(() => undefined),
        );
        if (res.error) throw new InvalidArgumentError(`etcd refused the lease grant: ${res.error}`);
        id = normalizeId(res.ID);
        grantedTtl = Number(res.TTL);
        remainingMs = grantedTtl * 1000;
      } else {
        id = parseLeaseId(leaseId);
        const res = await untilAborted(client.leaseClient.leaseTimeToLive({ ID: id, keys: false }), signal);
        if (Number(res.TTL) <= 0) {
          throw new InvalidArgumentError(
            `Lease ${leaseHex(id)} (${id}) does not exist: it expired, was revoked, or was never granted`,
          );
        }
        grantedTtl = Number(res.grantedTTL);
        remainingMs = Number(res.TTL) * 1000;
      }
    } catch (err) {
      throw translateError(err, client);
    }
    const marginMs = options.safetyMarginMs ?? Math.min(1000, (grantedTtl * 1000) / 10);
    return new Session(client, id, grantedTtl, sentAt + remainingMs - marginMs, marginMs);
  }

  /**
   * The session's state, replaying the current one to each subscriber (also the final `lost` or
   * `closed`) and completing when the session ends. `suspended`: renewals are failing but the
   * lease may still be alive; pause risky work until `alive` returns.
   */
  get state$(): Observable<SessionState> {
    return this.state.asObservable();
  }

  /** Each acknowledged renewal; completes when the session ends. */
  get keepAlive$(): Observable<KeepAliveEvent> {
    return this.renewals.asObservable();
  }

  /** The current state, as last emitted on {@link state$} (after {@link expireIfDue}). */
  get currentState(): SessionState {
    this.expireIfDue();
    return this.current;
  }

  /**
   * True until the session is lost or closed. Reads the clock: a deadline that passed while the
   * event loop was blocked ends the session right here, before the caller acts on stale belief.
   */
  get isActive(): boolean {
    this.expireIfDue();
    return !this.signal.aborted;
  }

  /**
   * The loss deadline on the `performance.now()` clock: the send time of the latest acknowledged
   * renewal + TTL − the safety margin. Past it the lease may have expired on the server.
   */
  get deadline(): number {
    return this.tracker.deadline;
  }

  /**
   * Throws the session's end reason if it has ended — or if its deadline has passed, which ends
   * it as lost first (see {@link expireIfDue}). Call it at the moment you report success
   * built on the session (a lock acquired, an election won).
   *
   * @example
   * ```ts
   * session.throwIfEnded(); // SessionExpiredError if the process was paused past the deadline
   * return hold;
   * ```
   */
  throwIfEnded(): void {
    this.expireIfDue();
    this.signal.throwIfAborted();
  }

  /**
   * Ends the session as lost, synchronously, if the monotonic clock is past its deadline; true if
   * the session has ended (now or before). The timers do the same, but only once the event loop
   * gets round to them: after a long pause (GC, a CPU-bound task, SIGSTOP), I/O callbacks such as
   * a watch event saying "your turn" may run first. Checking here closes that window.
   *
   * @example
   * ```ts
   * if (session.expireIfDue()) throw session.signal.reason;
   * ```
   */
  expireIfDue(): boolean {
    if (this.signal.aborted) return true;
    if (this.tracker.check(performance.now())) this.lost();
    return this.signal.aborted;
  }

  /** Stops the keep-alive and revokes the lease, so every key on it vanishes. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const wasActive = this.end('closed', new SessionClosedError(this.leaseId));
      if (!wasActive) return;
      try {
        await this.client.leaseClient.leaseRevoke({ ID: this.leaseId });
      } catch (err) {
        if (!(err instanceof EtcdLeaseInvalidError)) throw translateError(err, this.client);
      }
      // Other sessions on this client attached to the same lease lost it with us.
      this.hub.revoked(this.leaseId, this.listener);
    })();
    return this.closing;
  }

  /**
   * Stops the keep-alive without revoking: the session ends here (`closed`) and the lease expires
   * after its TTL, unless another process attaches to it with `Session.create(client, { leaseId })`.
   * Other sessions attached to the same lease are not affected: they keep renewing it.
   */
  orphan(): void {
    this.end(
      'closed',
      new SessionClosedError(this.leaseId, 'the session was orphaned; its lease expires by itself'),
    );
  }

  /** `await using` support: {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Ends the session as lost because etcd said the lease is gone (for example a Txn attaching it
   * failed with "lease not found"). Other sessions on this client on the same lease end too.
   * @internal
   */
  reportLeaseGone(detail = 'etcd reports the lease does not exist (expired or revoked)'): void {
    this.tracker.lose('gone');
    if (this.end('lost', new SessionExpiredError(this.leaseId, detail), 'revoked')) {
      this.hub.revoked(this.leaseId, this.listener);
    }
  }

  /**
   * Asks etcd whether the lease still exists, through a renewal sent now: true once etcd renewed
   * it; false when the lease is gone (the session then ends as lost) or the session ends first.
   * Used when a key on the lease vanished, to tell "the lease ended" from "someone deleted it".
   *
   * It never guesses: while etcd does not answer it keeps waiting, at most until the session's
   * deadline, when the session is lost anyway (then false). Use {@link leaseStatus} to bound the
   * wait instead.
   * @internal
   */
  confirmLease(): Promise<boolean> {
    if (!this.isActive) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      this.confirmations.push(resolve);
      this.askConfirmation();
    });
  }

  /**
   * Like {@link confirmLease}, but bounded: `'alive'` (etcd renewed the lease after the call),
   * `'gone'` (the lease is gone or the session ended: see {@link signal}'s reason), or
   * `'unknown'` when no answer came within `timeoutMs`.
   * @internal
   */
  async leaseStatus(timeoutMs = 500): Promise<'alive' | 'gone' | 'unknown'> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'unknown'>((resolve) => {
      timer = setTimeout(() => resolve('unknown'), Math.min(timeoutMs, MAX_TIMER_MS));
    });
    try {
      const answer = this.confirmLease().then((alive): 'alive' | 'gone' => (alive ? 'alive' : 'gone'));
      return await Promise.race([answer, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends the renewal that answers pending {@link confirmLease} calls (again after a break). */
  private askConfirmation(): void {
    if (this.confirmations.length === 0 || this.confirmSeq !== undefined || this.signal.aborted) return;
    const now = performance.now();
    const seq = this.hub.renew(this.leaseId);
    this.tracker.sent(now, seq);
    this.confirmSeq = seq;
    this.settle();
  }

  private answered(answers: RenewalSend | undefined): void {
    if (this.confirmSeq === undefined || answers === undefined || answers.seq < this.confirmSeq) return;
    this.confirmSeq = undefined;
    for (const resolve of this.confirmations.splice(0)) resolve(true);
  }

  private wake(): void {
    if (this.signal.aborted) return;
    const now = performance.now();
    if (this.tracker.tick(now)) this.tracker.sent(now, this.hub.renew(this.leaseId));
    this.settle();
  }

  /**
   * Acts on the tracker's verdict: emits the state, ends a lost session, re-arms the timer.
   * True while the session lives.
   */
  private settle(): boolean {
    if (this.signal.aborted) return false;
    const state = this.tracker.state;
    if (state === 'lost') {
      this.lost();
      return false;
    }
    this.setState(state);
    this.arm();
    return true;
  }

  private arm(): void {
    const at = this.tracker.nextWakeAt;
    if (this.wakeTimer !== undefined && at === this.wakeAt) return;
    clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    // setTimeout holds at most 2^31−1 ms (24.8 days); a longer wait goes in steps that re-arm.
    const delay = Math.min(Math.max(0, at - performance.now()), MAX_TIMER_MS);
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.wake();
    }, delay);
  }

  private lost(): void {
    const cause = this.tracker.lossCause;
    const detail =
      cause === 'gone'
        ? 'etcd says the lease expired or was revoked'
        : `no renewal was acknowledged within the ${this.ttl} s TTL`;
    const ended = this.end(
      'lost',
      new SessionExpiredError(this.leaseId, detail),
      cause === 'expired' ? 'session-expired' : 'revoked',
    );
    if (!ended || cause !== 'expired') return;
    // The lease may still live on the server; revoke it so that waiters behind our keys do not
    // wait out the TTL for holds we have already declared lost. Sessions on this client sharing
    // the lease lose it with us.
    this.hub.revoked(this.leaseId, this.listener);
    this.client.leaseClient.leaseRevoke({ ID: this.leaseId }).catch(() => undefined);
  }

  private setState(next: SessionState): void {
    if (this.current === next || this.signal.aborted) return;
    if (next === 'suspended') {
      const error = this.streamError;
      const cause = !error ? 'renewal-overdue' : isNoLeader(error) ? 'no-leader' : 'stream-broken';
      sessionSuspended(this.leaseId, this.ttl, cause, error);
    }
    this.current = next;
    this.state.next(next);
  }

  /** Ends the session once; returns false if it had already ended. */
  private end(final: 'lost' | 'closed', reason: Error, cause?: 'session-expired' | 'revoked'): boolean {
    if (this.signal.aborted) return false;
    // Before the abort: holds that learn of it read the cause for their own `lost` events.
    sessionEnded(this.leaseId, this.ttl, final, reason, cause);
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.tracker.lose(final === 'lost' ? (this.tracker.lossCause ?? 'gone') : 'gone');
    this.unregister?.();
    this.unregister = undefined;
    this.unhookClose?.();
    this.current = final;
    this.abort.abort(reason);
    this.state.next(final);
    this.state.complete();
    this.renewals.complete();
    for (const resolve of this.confirmations.splice(0)) resolve(false);
    this.resolveDone();
    return true;
  }
}

function validateTtl(ttl: number): void {
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl <= 0 || ttl > MAX_TTL_SECONDS) {
    throw new InvalidArgumentError(
      `Session ttl must be a whole number of seconds between 1 and ${MAX_TTL_SECONDS}, got ${String(ttl)}`,
    );
  }
}

function parseLeaseId(leaseId: string): string {
  if (typeof leaseId !== 'string' || !/^\d{1,20}$/.test(leaseId) || BigInt(leaseId) === 0n) {
    throw new InvalidArgumentError(
      `leaseId must be a lease id in decimal as etcd3 gives it (for example "7587862612937475091"), got ${JSON.stringify(leaseId)}`,
    );
  }
  return normalizeId(leaseId);
}
