import { subscribe, unsubscribe } from 'node:diagnostics_channel';

/**
 * The `node:diagnostics_channel` channels the library publishes on. Names and payloads are a
 * stable API: a field may be added in a minor release, never renamed or removed.
 *
 * Payloads never carry secrets: no passwords, tokens or TLS material, no key values (they are the
 * application's data) and no error messages, only error names. Revisions are `bigint`, durations
 * milliseconds from the monotonic clock.
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel';
 * import { DIAGNOSTICS_CHANNELS, type AcquireEvent } from 'etcd-concurrency';
 *
 * subscribe(DIAGNOSTICS_CHANNELS.acquire, (message) => {
 *   const e = message as AcquireEvent;
 *   console.log(`${e.primitive} ${e.name}: acquired after ${e.durationMs.toFixed(1)} ms`);
 * });
 * ```
 */
export const DIAGNOSTICS_CHANNELS = {
  /** A contender starts waiting behind others (`phase: 'start'`), and stops (`phase: 'end'`). */
  wait: 'etcd-concurrency:wait',
  /** A lock, read/write lock, permit or leadership is acquired, contended or not. */
  acquire: 'etcd-concurrency:acquire',
  /** A hold is given back with `release()` (or `unlock()`, `resign()`, scope end). */
  release: 'etcd-concurrency:release',
  /** A hold or a session is lost, with the cause. */
  lost: 'etcd-concurrency:lost',
  /** A session's lease renewal is acknowledged, with its round-trip time. */
  renew: 'etcd-concurrency:renew',
  /** A session becomes `suspended`, with the reason (its member has no leader, say). */
  suspend: 'etcd-concurrency:suspend',
  /** A watch or lease keep-alive stream works again after breaking. */
  reconnect: 'etcd-concurrency:reconnect',
  /** A failed etcd call is about to be tried again. */
  retry: 'etcd-concurrency:retry',
} as const;

/** The events of {@link DIAGNOSTICS_CHANNELS}. */
export type DiagnosticsEventName = keyof typeof DIAGNOSTICS_CHANNELS;

/** The primitive an event is about. */
export type DiagnosticsPrimitive = 'mutex' | 'rwmutex' | 'election' | 'semaphore';

/** Which primitive and name a queue operation belongs to (given by the primitives). */
export interface DiagnosticsOrigin {
  primitive: DiagnosticsPrimitive;
  /** The primitive's name as given to its constructor, e.g. `locks/job5`. */
  name: string;
}

/** Fields of every event about one contender key. */
export interface ContenderFields extends DiagnosticsOrigin {
  /** The contender's own key in etcd. */
  key: string;
  /** The session's lease, decimal as etcd3 gives it. */
  leaseId: string;
  /** The own key's create revision: its place in the queue, and the hold's fencing token. */
  createRevision: bigint;
}

/** `etcd-concurrency:wait`, `phase: 'start'`: the contender found others ahead and waits. */
export interface WaitStartEvent extends ContenderFields {
  phase: 'start';
  /** Keys ahead of the contender's own key when the wait began. */
  ahead: number;
  /** The revision of the queue's view when the wait began. */
  revision: bigint;
}

/** `etcd-concurrency:wait`, `phase: 'end'`: a wait that began with `phase: 'start'` is over. */
export interface WaitEndEvent extends ContenderFields {
  phase: 'end';
  /** `aborted`: the caller's signal; `failed`: the session ended, the key was deleted, or etcd failed. */
  outcome: 'acquired' | 'aborted' | 'failed';
  /** Milliseconds since the call (`lock()`, `campaign()`, `acquire()`) began. */
  durationMs: number;
  /** Name of the error the wait ended with (`outcome` other than `acquired`). */
  error?: string;
}

/** A message on `etcd-concurrency:wait`. */
export type WaitEvent = WaitStartEvent | WaitEndEvent;

/** `etcd-concurrency:acquire`: the caller now holds. */
export interface AcquireEvent extends ContenderFields {
  /** Milliseconds since the call began: the time to acquire, waiting included. */
  durationMs: number;
  /** True if the contender had to wait behind others (a `wait` start was published). */
  contended: boolean;
  /** False if the session's key existed already and was joined (Go's re-entrant layout). */
  created: boolean;
  /** The revision of the queue's view at which the hold was granted. */
  revision: bigint;
}

/** `etcd-concurrency:release`: a hold was given back by its owner. */
export interface ReleaseEvent extends ContenderFields {
  /** How long it was held, in milliseconds. */
  durationMs: number;
}

/**
 * Why something was lost:
 * - `session-expired`: no renewal was acknowledged in time (etcd unreachable, process paused);
 * - `revoked`: etcd reports the lease gone (revoked by another client, or expired on the server);
 * - `key-deleted`: the hold's own key was deleted by another client while the session lives;
 * - `session-closed`: the session was closed or orphaned while the hold was held;
 * - `error`: the hold's watch failed for good (the client was closed, etcd refused the watch).
 */
export type LossCause = 'session-expired' | 'revoked' | 'key-deleted' | 'session-closed' | 'error';

/** `etcd-concurrency:lost` for a hold. */
export interface HoldLostEvent extends ContenderFields {
  cause: LossCause;
  /** How long it was held, in milliseconds. */
  durationMs: number;
  /** Name of the error `hold.signal` aborted with. */
  error: string;
}

/** `etcd-concurrency:lost` for a session (its holds follow, each with its own event). */
export interface SessionLostEvent {
  primitive: 'session';
  leaseId: string;
  /** The lease TTL in seconds. */
  ttl: number;
  cause: Extract<LossCause, 'session-expired' | 'revoked'>;
  /** Name of the error `session.signal` aborted with. */
  error: string;
}

/** A message on `etcd-concurrency:lost`. */
export type LostEvent = HoldLostEvent | SessionLostEvent;

/** `etcd-concurrency:renew`: a session's lease renewal was acknowledged. */
export interface RenewEvent {
  primitive: 'session';
  leaseId: string;
  /** TTL in seconds etcd granted from this renewal on. */
  ttl: number;
  /** etcd's revision in the answer. */
  revision: bigint;
  /**
   * Round trip of the renewal, in milliseconds; undefined for an answer to a renewal sent on a
   * stream that broke since (it cannot be matched to a send time).
   */
  durationMs: number | undefined;
}

/**
 * Why a session became `suspended`:
 * - `no-leader`: its keep-alive stream's member has no raft leader (cut off from the quorum, or
 *   an election is under way), as etcd said or as the member answered the library's leader check;
 * - `stream-broken`: the keep-alive stream broke otherwise (connection lost, etcd restarted);
 * - `renewal-overdue`: a renewal went unanswered for a second (TTL/3 if shorter).
 */
export type SuspendCause = 'no-leader' | 'stream-broken' | 'renewal-overdue';

/** `etcd-concurrency:suspend`: a session went from `alive` to `suspended`. */
export interface SuspendEvent {
  primitive: 'session';
  leaseId: string;
  /** The lease TTL in seconds. */
  ttl: number;
  cause: SuspendCause;
  /** Name of the error that broke the keep-alive stream (`no-leader`, `stream-broken`). */
  error: string | undefined;
}

/** `etcd-concurrency:reconnect`: a stream delivers again after it broke. */
export interface ReconnectEvent {
  /** `watch`: the client's watch stream (every watch resumes on it); `keep-alive`: its lease keep-alive stream. */
  stream: 'watch' | 'keep-alive';
  /** How many times it broke (and was reopened) before this success. */
  attempts: number;
  /** Milliseconds from the first break to the first message on the new stream. */
  durationMs: number;
  /** Name of the error that broke it last. */
  error: string;
}

/** `etcd-concurrency:retry`: a call failed with connection trouble and is tried again. */
export interface RetryEvent {
  /**
   * What is retried: `call` (an idempotent read, delete or guarded transaction, a few times),
   * `enqueue` (creating a waiting contender's key, until its signal or session ends),
   * `mirror-read` (the initial read of a queue's view), `unsent` (a call that never reached a
   * member, sent to the next endpoint at once).
   */
  operation: 'call' | 'enqueue' | 'mirror-read' | 'unsent';
  /** The number of the attempt that failed, from 1. */
  attempt: number;
  /** Milliseconds until the next attempt, where known. */
  delayMs: number | undefined;
  /** Name of the error of the failed attempt, e.g. `GRPCUnavailableError`. */
  error: string;
}

/** The payload type of each event. */
export interface DiagnosticsEvents {
  wait: WaitEvent;
  acquire: AcquireEvent;
  release: ReleaseEvent;
  lost: LostEvent;
  renew: RenewEvent;
  suspend: SuspendEvent;
  reconnect: ReconnectEvent;
  retry: RetryEvent;
}

/**
 * Subscribes to one event, typed; returns the function that unsubscribes. The same as
 * `diagnostics_channel.subscribe(DIAGNOSTICS_CHANNELS[event], listener)`.
 *
 * @example
 * ```ts
 * const stop = subscribeDiagnostics('lost', (e) => log.warn({ ...e }, 'lost'));
 * // later
 * stop();
 * ```
 */
export function subscribeDiagnostics<E extends DiagnosticsEventName>(
  event: E,
  listener: (message: DiagnosticsEvents[E]) => void,
): () => void {
  const name = DIAGNOSTICS_CHANNELS[event];
  const fn = (message: unknown) => {
    listener(message as DiagnosticsEvents[E]);
  };
  subscribe(name, fn);
  return () => {
    unsubscribe(name, fn);
  };
}
