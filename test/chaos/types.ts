/**
 * The shared vocabulary of the chaos harness: what a worker is told, what it logs, what faults the
 * runner injects, and what the checker reports. Kept free of imports so that the worker, the runner,
 * the checker and the CLI agree on one definition.
 */

/** Which primitive the workers contend on. */
export type PrimitiveKind = 'mutex' | 'rwmutex' | 'election' | 'semaphore' | 'barrier';

/** Given to a worker process as its only argument (JSON). */
export interface WorkerConfig {
  /** Unique per process incarnation: `w2`, and `w2r1` for the replacement of a killed `w2`. */
  id: string;
  kind: PrimitiveKind;
  endpoints: string[];
  /** The primitive's name; its contenders live under `name + '/'`. */
  name: string;
  /** Mutex/Election: the register key. Semaphore: the prefix of the per-worker slot keys. */
  register: string;
  /** Completed lock → write → release cycles after which the worker stops. */
  ops: number;
  /** Epoch ms after which the worker stops waiting and exits. */
  deadline: number;
  /** Session TTL in seconds. */
  ttl: number;
  /** Pause between reading the register and writing it, uniformly in [min, max] ms. */
  thinkMs: [number, number];
  /** Negative control: plain put instead of the guarded `hold.txn()`. */
  unguarded: boolean;
  /** Semaphore only. */
  permits?: number;
  /** Semaphore only: permits taken per acquire (default 1). */
  weight?: number;
  /** RWMutex only: readers take read holds and only read the register; writers write it. */
  role?: 'reader' | 'writer';
  /** DoubleBarrier only: participants per round. */
  count?: number;
  /** the client's deadline per unary call (default: createClient's) */
  callTimeoutMs?: number;
  /** SIGUSR2 makes the worker block its own event loop this long (an in-process GC pause). */
  blockMs?: number;
}

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
export type Millis = number;

interface Base {
  /** worker id */
  w: string;
  t: Millis;
}

/**
 * One line of a worker's log. `op` is `<worker>#<n>`, one per acquire attempt; revisions and tokens
 * are decimal strings (JSON has no bigint).
 */
export type WorkerEvent =
  | (Base & { ev: 'boot'; pid: number })
  | (Base & { ev: 'session'; lease: string; ttl: number })
  | (Base & { ev: 'session-end'; lease: string; reason: string })
  | (Base & { ev: 'start'; op: string; lease: string })
  | (Base & { ev: 'acquired'; op: string; key: string; token: string; lease: string })
  | (Base & { ev: 'read'; op: string; token: string; rev: string; modRev: string; count: number })
  | (Base & { ev: 'lost'; op: string; token: string; reason: string })
  | (Base & {
      ev: 'write';
      op: string;
      token: string;
      /** 'enter'/'exit' for semaphore slots, 'rmw' for the register */
      phase: 'rmw' | 'enter' | 'exit';
      /** ok: committed; failed: etcd answered that the comparison failed; unknown: no answer */
      outcome: 'ok' | 'failed' | 'unknown';
      rev?: string;
      /** whether hold.signal had already aborted when the write was sent */
      signalAborted: boolean;
      /** failed guarded write: did the own key still exist with this token? */
      keyHeld?: boolean;
      error?: string;
    })
  | (Base & { ev: 'releasing'; op: string; token: string })
  | (Base & { ev: 'released'; op: string; token: string; error?: string })
  /** DoubleBarrier: enter() resolved; `rev` is etcd's revision at a read right after it */
  | (Base & { ev: 'entered'; op: string; key: string; token: string; rev: string })
  /** DoubleBarrier: leave() resolved */
  | (Base & { ev: 'left'; op: string; token: string; rev: string })
  /** the worker blocked its own event loop (SIGUSR2) */
  | (Base & { ev: 'blocked'; ms: number })
  | (Base & { ev: 'error'; op?: string; step: string; name: string; message: string })
  | (Base & { ev: 'exit'; completed: number; reason: string });

/** A fault the runner injected, as recorded by the runner. */
export interface FaultRecord {
  kind: FaultKind;
  /** when the fault began (epoch ms) */
  t: Millis;
  /** when it was healed (resumed, restarted), if it is a temporary fault */
  healedAt?: Millis;
  /** the worker hit, for holder faults */
  worker?: string;
  /** the op and token the worker held when hit */
  op?: string;
  token?: string;
  /** the etcd member hit, for member faults */
  member?: string;
  /** workers that were waiting (started, not acquired) when a member fault began */
  waiting?: string[];
  note?: string;
}

export type FaultKind =
  | 'kill-holder'
  | 'pause-holder'
  | 'kill-leader'
  | 'kill-follower'
  | 'restart-member-mid-wait'
  /** SIGSTOP of a worker that is waiting (started, not acquired) for longer than its TTL */
  | 'pause-waiter'
  /** a waiting worker blocks its own event loop for longer than its TTL */
  | 'block-waiter'
  /** the worker's replies are blackholed from its next request on, for a window */
  | 'lose-replies'
  /** every connection of the worker is reset (TCP RST) */
  | 'reset-connections';

/** One event of etcd's history under the run's root prefix, as replayed after the run. */
export interface HistoryEvent {
  rev: bigint;
  type: 'put' | 'delete';
  key: string;
  value: string;
  /** create revision of the key (of the incarnation deleted, for deletes) */
  createRev: bigint;
  lease: string;
}

export type ViolationKind =
  | 'overlapping-writers'
  | 'token-order'
  | 'lost-update'
  | 'phantom-write'
  | 'stale-grant'
  | 'loss-unnoticed'
  | 'late-write-committed'
  | 'oversubscribed'
  | 'starved'
  | 'missed-grant'
  | 'hung'
  | 'leaked-keys'
  | 'leaked-leases'
  /** a contender key that outlived its attempt while its session lived (or two keys of one worker) */
  | 'orphan-key'
  /** a wait reported success although etcd had already deleted its key (its session was dead) */
  | 'false-success'
  /** a DoubleBarrier participant passed enter() before `count` participants were in */
  | 'barrier-early';

export interface Violation {
  kind: ViolationKind;
  message: string;
}

/** What a holder pause did: the Jepsen scenario, recorded. */
export interface PauseOutcome {
  worker: string;
  token: string;
  pausedMs: number;
  /** the hold's key was deleted in etcd (the lease expired) while the worker was stopped */
  expiredDuringPause: boolean;
  /** reason name of hold.signal's abort, if the worker learnt of the loss */
  signalled?: string;
  /** ms from SIGCONT until hold.signal aborted */
  signalledAfterMs?: number;
  /** the write the worker attempted after SIGCONT */
  lateWrite: 'failed' | 'committed' | 'unknown' | 'none';
}

export interface ScenarioReport {
  scenario: string;
  kind: PrimitiveKind;
  unguarded: boolean;
  workers: number;
  durationMs: number;
  /** acquisitions (acquired events) */
  acquisitions: number;
  /** sessions that ended other than by close(): lease expired or revoked (a paused worker's, say) */
  sessionsLost: number;
  writes: { ok: number; failed: number; unknown: number; inHistory: number };
  faults: FaultRecord[];
  pauses: PauseOutcome[];
  violations: Violation[];
  /** ms from the previous holder's key deletion in etcd to the next holder's `acquired` */
  maxHandoffStallMs: number;
  medianHandoffStallMs: number;
  handoffs: number;
  /** ms from a holder fault to the next acquisition by another worker */
  maxFailoverMs: number;
  keysLeaked: number;
  leasesLeaked: number;
  /** the highest number of permits in use at any revision (semaphore) or holders (1 for locks) */
  maxConcurrentHolders: number;
  /** 1 for locks */
  permits: number;
  /**
   * Reads made after a real grant but once etcd had already ended the hold (the worker stalled past
   * its TTL and had not noticed yet): the zombie window that guarded writes close. Not a violation.
   */
  zombieReads: number;
  finalCount?: number;
  /** errors the workers logged, by step and error name: the library's behaviour under the faults */
  errors: Record<string, number>;
  /** where the logs and history were written, if anywhere */
  artifacts?: string;
}
