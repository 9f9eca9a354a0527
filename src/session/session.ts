import { performance } from 'node:perf_hooks';
import type { Etcd3 } from 'etcd3';
import { EtcdLeaseInvalidError, Namespace } from 'etcd3';
import { type Observable, ReplaySubject, Subject } from 'rxjs';
import { translateError } from '../core/etcd-errors.js';
import { InvalidArgumentError, SessionClosedError, SessionExpiredError, leaseHex } from '../errors.js';
import { untilAborted, untilAbortedOrUndo } from '../core/abort.js';
import { onClientClose } from '../core/client-hooks.js';
import { validateClient, validateSignal } from '../core/validate.js';
import { KeepAliveHub, normalizeId } from './keepalive-hub.js';
import { sessionEnded, sessionRenewed } from '../diagnostics/publish.js';

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
  /** Lease TTL in whole seconds (default 60). Ignored when `leaseId` is given. */
  ttl?: number;
  /** Attach to this existing lease instead of granting a new one (decimal, as etcd3 gives ids). */
  leaseId?: string;
  /** Cancels creation; a lease granted meanwhile is revoked. */
  signal?: AbortSignal;
  /**
   * How long before the computed expiry the session declares itself lost, in milliseconds.
   * Default: a tenth of the TTL, at most 1 s.
   */
  safetyMarginMs?: number;
}

/** etcd's own ceiling on lease TTLs (MaxLeaseTTL). */
const MAX_TTL_SECONDS = 9_000_000_000;

/**
 * A lease kept alive in the background: the identity of a process in every lock, election and
 * semaphore built on it. When the lease cannot be alive any more the session is `lost`, exactly
 * once, and everything built on it learns at once through {@link Session.signal}.
 *
 * The loss deadline is the send time of the last acknowledged renewal + TTL − a safety margin,
 * on the monotonic clock, so it is never later than etcd's own expiry (etcd may keep a lease
 * longer, after a leader change, never shorter).
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
  private readonly renewEveryMs: number;
  private readonly marginMs: number;
  private current: SessionState = 'alive';
  private deadline: number;
  private readonly inFlight: number[] = [];
  private renewTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private unregister: (() => void) | undefined;
  private unhookClose: (() => void) | undefined;
  private resolveDone!: () => void;
  private closing: Promise<void> | undefined;

  private constructor(client: Etcd3, leaseId: string, ttl: number, aliveSince: number, marginMs: number) {
    this.client = client;
    this.leaseId = leaseId;
    this.ttl = ttl;
    this.signal = this.abort.signal;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.marginMs = marginMs;
    this.renewEveryMs = Math.min((ttl * 1000) / 3, 1000);
    this.deadline = aliveSince;
    this.state.next('alive');
    this.armDeadline();
    this.unregister = KeepAliveHub.of(client).register(leaseId, {
      onRenewed: (ttlSeconds, revision) => {
        this.renewed(ttlSeconds, revision);
      },
      onStreamBroken: () => {
        this.inFlight.length = 0;
        this.setState('suspended');
      },
    });
    this.unhookClose = onClientClose(client, () => {
      this.orphan();
    });
    this.renewTimer = setInterval(() => {
      this.tick();
    }, this.renewEveryMs);
    this.tick();
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

  /** The current state, as last emitted on {@link state$}. */
  get currentState(): SessionState {
    return this.current;
  }

  /** True until the session is lost or closed. */
  get isActive(): boolean {
    return !this.signal.aborted;
  }

  /**
   * Ends the session as lost if its loss deadline has passed, then says whether it is still
   * active. Called by every wait in the instant it would report success: after a pause of the
   * process (GC, SIGSTOP) a watch event can be handled before the deadline timer fires, and a
   * wait must not hand out a hold on a lease that may have expired.
   * @internal
   */
  checkAlive(): boolean {
    if (this.isActive && performance.now() >= this.deadline) this.expireLate();
    return this.isActive;
  }

  /** Throws the session's end reason if it has ended. */
  throwIfEnded(): void {
    this.signal.throwIfAborted();
  }

  /** Stops the keep-alive and revokes the lease, so every key on it vanishes. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const wasActive = this.end('closed', new SessionClosedError(this.leaseId));
      if (!wasActive) return;
      try {
        await this.client.leaseClient.leaseRevoke({ ID: this.leaseId });
      } catch (err) {
        if (err instanceof EtcdLeaseInvalidError) return; // already gone
        throw translateError(err, this.client);
      }
    })();
    return this.closing;
  }

  /**
   * Stops the keep-alive without revoking: the session ends here (`closed`) and the lease expires
   * after its TTL, unless another process attaches to it with `Session.create(client, { leaseId })`.
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
   * failed with "lease not found").
   * @internal
   */
  reportLeaseGone(detail = 'etcd reports the lease does not exist (expired or revoked)'): void {
    this.end('lost', new SessionExpiredError(this.leaseId, detail), 'revoked');
  }

  /**
   * Asks etcd whether the lease still exists, and ends the session as lost if it does not.
   * Used when a key on the lease vanished, to tell "the lease ended" from "someone deleted it".
   * Resolves true if the lease is alive or the answer did not come within `timeoutMs`.
   * @internal
   */
  async confirmLease(timeoutMs = 500): Promise<boolean> {
    if (!this.isActive) return false;
    try {
      const res = await this.client.leaseClient.leaseTimeToLive(
        { ID: this.leaseId, keys: false },
        { deadline: new Date(Date.now() + timeoutMs) },
      );
      if (Number(res.TTL) > 0) return true;
      this.reportLeaseGone();
      return false;
    } catch {
      return this.isActive;
    }
  }

  private tick(): void {
    if (!this.isActive) return;
    const oldest = this.inFlight[0];
    if (oldest !== undefined && performance.now() - oldest > this.renewEveryMs * 1.5)
      this.setState('suspended');
    if (KeepAliveHub.of(this.client).renew(this.leaseId)) this.inFlight.push(performance.now());
    else this.setState('suspended');
  }

  private renewed(ttlSeconds: number, revision: bigint): void {
    if (!this.isActive) return;
    const now = performance.now();
    const sentAt = this.inFlight.shift();
    if (ttlSeconds <= 0) {
      this.end(
        'lost',
        new SessionExpiredError(this.leaseId, 'etcd says the lease expired or was revoked'),
        'revoked',
      );
      return;
    }
    // A renewal handled after the deadline (say, the event loop was blocked) cannot vouch for the
    // time in between: keys on the lease may have expired and been taken over meanwhile.
    if (now >= this.deadline) {
      this.expireLate();
      return;
    }
    // An answer we cannot match to a send time (one sent on a stream that broke) proves the
    // lease was alive, but not since when: it must not move the deadline.
    if (sentAt !== undefined)
      this.deadline = Math.max(this.deadline, sentAt + ttlSeconds * 1000 - this.marginMs);
    this.armDeadline();
    this.setState('alive');
    sessionRenewed(this.leaseId, ttlSeconds, revision, sentAt);
    this.renewals.next({ ttl: ttlSeconds, revision });
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(
      () => {
        if (performance.now() >= this.deadline) this.expireLate();
        else this.armDeadline();
      },
      Math.max(0, this.deadline - performance.now()),
    );
  }

  private expireLate(): void {
    const ended = this.end(
      'lost',
      new SessionExpiredError(this.leaseId, `no renewal was acknowledged within the ${this.ttl} s TTL`),
    );
    // The lease may still live on the server; revoke it so that waiters behind our keys do not
    // wait out the TTL for holds we have already declared lost.
    if (ended) this.client.leaseClient.leaseRevoke({ ID: this.leaseId }).catch(() => undefined);
  }

  private setState(next: SessionState): void {
    if (this.current === next || !this.isActive) return;
    this.current = next;
    this.state.next(next);
  }

  /** Ends the session once; returns false if it had already ended. */
  private end(final: 'lost' | 'closed', reason: Error, cause?: 'session-expired' | 'revoked'): boolean {
    if (!this.isActive) return false;
    sessionEnded(this.leaseId, this.ttl, final, reason, cause);
    clearInterval(this.renewTimer);
    clearTimeout(this.deadlineTimer);
    this.unregister?.();
    this.unregister = undefined;
    this.unhookClose?.();
    this.current = final;
    this.abort.abort(reason);
    this.state.next(final);
    this.state.complete();
    this.renewals.complete();
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
