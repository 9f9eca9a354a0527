/**
 * When the keep-alive hub asks its stream's member whether it still has a raft leader: the rules
 * alone, free of timers and calls, so they can be tested over arbitrary schedules (the caller
 * passes the time, monotonic milliseconds, into every call).
 *
 * Why ask at all: a member cut off from the quorum keeps its connections and leaves renewals
 * unanswered. etcd ends require-leader streams only after three election timeouts without a
 * leader (plus the timeout raft needs to notice), ~2 s with a 500 ms election timeout and 4–5 s
 * with etcd's default 1 s; a unary call carrying the same metadata is refused at once by such a
 * member. So when a renewal is overdue the hub asks the member, and a "no leader" ends the stream
 * there and then, which is what etcd would do a few seconds later.
 *
 * Why it costs nothing in the steady state: a probe is only ever due while a renewal on the stream
 * is unanswered for {@link LeaderCheckTiming.overdueAfterMs}; a healthy cluster answers in
 * milliseconds, so an idle fleet sends nothing extra.
 */

/** The pacing of the leader check, in milliseconds. */
export interface LeaderCheckTiming {
  /** How long a renewal may stay unanswered before its member is asked. */
  overdueAfterMs: number;
  /** The gap between probes while renewals stay overdue, for the first {@link fastProbes}. */
  fastEveryMs: number;
  /** How many probes go at the fast pace before it slows to {@link slowEveryMs}. */
  fastProbes: number;
  /** The gap between probes once the fast ones found a leader and renewals still hang. */
  slowEveryMs: number;
  /** The deadline of one probe. */
  probeTimeoutMs: number;
}

/**
 * The default pacing, and why:
 * - 250 ms overdue: a healthy cluster answers a renewal in a few milliseconds (a follower forwards
 *   it to the leader, one peer round trip, no raft entry, no disk write); a loaded one in tens. A
 *   probe that fires on a merely slow member costs one Maintenance.Status, which the member answers
 *   itself, and changes nothing: only "no leader" acts. It also stays well below the second after
 *   which a session reports `suspended` anyway.
 * - every 250 ms for 8 probes (2 s), then every second: a member notices the loss of its leader one
 *   to two election timeouts after the fact (0.5–1 s at 500 ms, 1–2 s at etcd's default 1 s), and
 *   the fast pace covers that; a cluster that is slow but has its leader is then asked once a
 *   second, as often as a suspended session retries its renewal.
 * - 1 s per probe: the member answers Status from memory; a probe that takes longer says nothing.
 */
export const LEADER_CHECK_TIMING: LeaderCheckTiming = {
  overdueAfterMs: 250,
  fastEveryMs: 250,
  fastProbes: 8,
  slowEveryMs: 1000,
  probeTimeoutMs: 1000,
};

/**
 * The pacer of one stream's leader check: at most one probe in flight, never one before a renewal
 * is overdue, and the gap between probes grows while the member keeps saying it has a leader.
 * A renewal answered promptly proves the path to the leader works: the pace starts over.
 *
 * @example
 * ```ts
 * const check = new LeaderCheck();
 * const at = check.dueAt(ledger.oldestSentAt()); // arm a timer for `at` (Infinity: none)
 * // when it fires, if now >= check.dueAt(ledger.oldestSentAt()):
 * check.started(now);
 * const verdict = await member.leaderStatus(check.timing.probeTimeoutMs);
 * check.finished();
 * ```
 */
export class LeaderCheck {
  private lastProbeAt = Number.NEGATIVE_INFINITY;
  /** Probes since the last prompt answer. */
  private probes = 0;
  private probing = false;

  constructor(readonly timing: LeaderCheckTiming = LEADER_CHECK_TIMING) {}

  /** Whether a probe is in flight. */
  get inFlight(): boolean {
    return this.probing;
  }

  /**
   * When the next probe is due, given the send time of the oldest unanswered renewal on the stream
   * (undefined: none): Infinity while nothing is unanswered or a probe is in flight.
   */
  dueAt(oldestUnanswered: number | undefined): number {
    if (oldestUnanswered === undefined || this.probing) return Number.POSITIVE_INFINITY;
    const gap = this.probes < this.timing.fastProbes ? this.timing.fastEveryMs : this.timing.slowEveryMs;
    return Math.max(oldestUnanswered + this.timing.overdueAfterMs, this.lastProbeAt + gap);
  }

  /** A probe was sent at `now`. */
  started(now: number): void {
    this.probing = true;
    this.lastProbeAt = now;
    this.probes++;
  }

  /** The probe in flight answered (or gave up). */
  finished(): void {
    this.probing = false;
  }

  /**
   * A renewal sent at `sentAt` was answered at `now`: within the overdue bound, the member and its
   * leader are fine, and a later stall is probed at the fast pace again.
   */
  answered(sentAt: number, now: number): void {
    if (now - sentAt < this.timing.overdueAfterMs) this.probes = 0;
  }
}
