/**
 * The bookkeeping behind a session's keep-alive, free of timers, streams and clocks: the caller
 * passes the time (monotonic milliseconds) into every call, so the rules can be tested over
 * arbitrary schedules of sends, replies and stream breaks.
 *
 * Two pieces:
 * - {@link RenewalLedger}, one per keep-alive stream owner (the client's hub): which renewal each
 *   reply answers. etcd answers the requests of one stream one by one, in order, or ends the
 *   stream, so the n-th reply for a lease on a stream answers the n-th request written for it
 *   there. Even if replies were reordered, pairing them in order stays on the safe side: after n
 *   replies, some answered request was written no earlier than the n-th.
 * - {@link RenewalTracker}, one per session: when to renew, the loss deadline, and the state.
 */

/** One renewal request as the ledger and trackers know it. */
export interface RenewalSend {
  /** Increasing per ledger; a reply to `seq` also answers every earlier request of the lease. */
  seq: number;
  /** When the request was written to the stream (or asked for, for a tracker's own bookkeeping). */
  sentAt: number;
}

/**
 * Pairs keep-alive replies with the requests they answer, per lease, on the current stream only.
 * A stream that broke takes its unanswered requests with it: a late reply that still shows up
 * from it is paired with nothing, so it can never move a deadline.
 *
 * @example
 * ```ts
 * const ledger = new RenewalLedger();
 * const gen = ledger.reset(); // a stream opened
 * ledger.written(leaseId, { seq: ledger.nextSeq(), sentAt: performance.now() });
 * const answers = ledger.answered(gen, leaseId); // on its reply: { seq, sentAt }
 * ```
 */
export class RenewalLedger {
  private readonly inFlight = new Map<string, RenewalSend[]>();
  private seq = 0;
  private generation = 0;

  /** The current stream's generation; pass it back with every reply read from that stream. */
  get stream(): number {
    return this.generation;
  }

  /** A fresh sequence number for a renewal about to be asked for. */
  nextSeq(): number {
    return ++this.seq;
  }

  /** A request for `leaseId` was written to the current stream at `sentAt`. */
  written(leaseId: string, send: RenewalSend): void {
    let list = this.inFlight.get(leaseId);
    if (!list) {
      list = [];
      this.inFlight.set(leaseId, list);
    }
    list.push(send);
  }

  /**
   * A reply for `leaseId` arrived on stream `generation`: the request it answers, or undefined
   * when it came from a stream that has since broken (or answers nothing we sent).
   */
  answered(generation: number, leaseId: string): RenewalSend | undefined {
    if (generation !== this.generation) return undefined;
    const list = this.inFlight.get(leaseId);
    const send = list?.shift();
    if (list?.length === 0) this.inFlight.delete(leaseId);
    return send;
  }

  /** The send time of the oldest request still unanswered on the current stream (undefined: none). */
  oldestSentAt(): number | undefined {
    let oldest: number | undefined;
    // Each lease's list is in send order: its head is its oldest.
    for (const list of this.inFlight.values()) {
      const head = list[0];
      if (head !== undefined && (oldest === undefined || head.sentAt < oldest)) oldest = head.sentAt;
    }
    return oldest;
  }

  /** True while every request written to the current stream has been answered. */
  get idle(): boolean {
    return this.inFlight.size === 0;
  }

  /** The stream ended (or a new one replaces it): nothing in flight will be answered. */
  reset(): number {
    this.inFlight.clear();
    return ++this.generation;
  }
}

/** A session's state as the tracker sees it; `closed` is the session's own business. */
export type RenewalState = 'alive' | 'suspended' | 'lost';

/** Why a tracker declared the lease lost. */
export type LossCause =
  /** No renewal acknowledged in time: the deadline passed (also seen late, after a blocked loop). */
  | 'expired'
  /** etcd answered a renewal with TTL ≤ 0: the lease does not exist any more. */
  | 'gone';

/** The fixed timing of one session, in milliseconds. */
export interface RenewalTiming {
  /** The lease's TTL. */
  ttlMs: number;
  /** Subtracted from every computed expiry, so the deadline comes before etcd's. */
  marginMs: number;
  /** Normal renewal period (TTL/3, as Go's client). */
  renewEveryMs: number;
  /**
   * While renewals fail: how long an unanswered renewal may take before the session is
   * `suspended`, and how often it is repeated until one is answered.
   */
  retryEveryMs: number;
}

/**
 * The timing a session of `ttlSeconds` uses: renew every TTL/3, retry every second at most.
 *
 * @example
 * ```ts
 * renewalTiming(60, 1000); // { ttlMs: 60000, marginMs: 1000, renewEveryMs: 20000, retryEveryMs: 1000 }
 * ```
 */
export function renewalTiming(ttlSeconds: number, marginMs: number): RenewalTiming {
  const ttlMs = ttlSeconds * 1000;
  const renewEveryMs = ttlMs / 3;
  return { ttlMs, marginMs, renewEveryMs, retryEveryMs: Math.min(renewEveryMs, 1000) };
}

/**
 * One session's view of its lease: when to send the next renewal, the loss deadline (send time of
 * the latest acknowledged renewal + TTL − margin), and alive / suspended / lost. Lost is final
 * and declared once; every call after it is ignored.
 *
 * @example
 * ```ts
 * const tracker = new RenewalTracker(renewalTiming(10, 1000), grantSentAt + 9000, now);
 * if (tracker.tick(now)) tracker.sent(now, hub.renew(leaseId)); // on every wake
 * tracker.replied(now, ttl, answers); // on every reply; then read tracker.state / nextWakeAt
 * ```
 */
export class RenewalTracker {
  private current: RenewalState = 'alive';
  private cause: LossCause | undefined;
  private expiry: number;
  private nextRenewAt: number;
  /** This session's own requests not yet answered, oldest first. */
  private pending: RenewalSend[] = [];

  /**
   * @param deadline the first deadline (from the grant or the attach), absolute.
   * @param now the first renewal is due at once.
   */
  constructor(
    readonly timing: RenewalTiming,
    deadline: number,
    now: number,
  ) {
    this.expiry = deadline;
    this.nextRenewAt = now;
  }

  get state(): RenewalState {
    return this.current;
  }

  /** Set once the state is `lost`. */
  get lossCause(): LossCause | undefined {
    return this.cause;
  }

  /** The loss deadline: past it, the lease may have expired on the server. */
  get deadline(): number {
    return this.expiry;
  }

  /** When {@link tick} must run next (Infinity once lost). */
  get nextWakeAt(): number {
    if (this.current === 'lost') return Number.POSITIVE_INFINITY;
    // Only an alive session waits for a renewal to become overdue; a suspended one already is.
    const oldest = this.current === 'alive' ? this.pending[0] : undefined;
    const overdueAt = oldest === undefined ? Number.POSITIVE_INFINITY : this.overdueAt(oldest);
    return Math.min(this.expiry, this.nextRenewAt, overdueAt);
  }

  /** When an unanswered renewal makes the session suspended (one expression, so no rounding gap). */
  private overdueAt(send: RenewalSend): number {
    return send.sentAt + this.timing.retryEveryMs;
  }

  /** Declares the lease lost if the deadline has passed; true if it is lost. */
  check(now: number): boolean {
    if (this.current !== 'lost' && now >= this.expiry) this.lose('expired');
    return this.current === 'lost';
  }

  /** Timer callback: true when a renewal must be sent now (then report it with {@link sent}). */
  tick(now: number): boolean {
    if (this.check(now)) return false;
    const oldest = this.pending[0];
    if (oldest !== undefined && now >= this.overdueAt(oldest)) this.current = 'suspended';
    if (now < this.nextRenewAt) return false;
    // Assume it fails until answered: the retry comes after retryEveryMs, not a whole period.
    this.nextRenewAt = now + this.timing.retryEveryMs;
    return true;
  }

  /** A renewal was asked for at `now` as `seq`; undefined when it could not be sent at all. */
  sent(now: number, seq: number | undefined): void {
    if (this.current === 'lost') return;
    if (seq === undefined) this.current = 'suspended';
    else this.pending.push({ seq, sentAt: now });
  }

  /**
   * A reply for the lease arrived at `now` with `ttlSeconds`, answering `match` (from the
   * ledger; undefined when it answers nothing we can pair it with). Replies prompted by other
   * sessions on the same lease count as well: they renew the same lease.
   */
  replied(now: number, ttlSeconds: number, match: RenewalSend | undefined): void {
    // Handled after the deadline (a blocked event loop, say): the reply says the lease was alive
    // when etcd renewed it, not that it still is now.
    if (this.check(now)) return;
    if (ttlSeconds <= 0) {
      this.lose('gone');
      return;
    }
    if (match === undefined) return;
    this.expiry = Math.max(this.expiry, match.sentAt + ttlSeconds * 1000 - this.timing.marginMs);
    this.pending = this.pending.filter((p) => p.seq > match.seq);
    // The next renewal is due a period after the answered one, but not while a newer one of ours
    // is still on its way: a late reply must not trigger another request each time (with replies
    // slower than the period, that kept a backlog in flight and the session suspended for good).
    const newest = this.pending.at(-1);
    this.nextRenewAt = Math.max(
      match.sentAt + this.timing.renewEveryMs,
      newest === undefined ? Number.NEGATIVE_INFINITY : newest.sentAt + this.timing.retryEveryMs,
    );
    const oldest = this.pending[0];
    if (oldest === undefined || now < this.overdueAt(oldest)) this.current = 'alive';
  }

  /** The stream broke: nothing in flight will be answered; retry as soon as it is back. */
  broken(now: number): void {
    if (this.current === 'lost') return;
    this.pending = [];
    this.current = 'suspended';
    this.nextRenewAt = Math.min(this.nextRenewAt, now + this.timing.retryEveryMs);
  }

  /** A new stream is up: a suspended session renews at once instead of at its next retry. */
  streamReady(now: number): void {
    if (this.current === 'suspended') this.nextRenewAt = Math.min(this.nextRenewAt, now);
  }

  /** Ends the tracker as lost for a reason found elsewhere (the lease revoked, say). */
  lose(cause: LossCause): void {
    if (this.current === 'lost') return;
    this.current = 'lost';
    this.cause = cause;
    this.pending = [];
  }
}
