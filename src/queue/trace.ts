import { performance } from 'node:perf_hooks';
import { HoldLostError, SessionClosedError } from '../errors.js';
import type { KeyValue } from '../etcd/watch.js';
import type { Session } from '../session/session.js';
import type { ContenderFields, DiagnosticsOrigin, LossCause } from '../diagnostics/events.js';
import { emit, errorName, listening, sessionCause } from '../diagnostics/publish.js';

/**
 * What a hold carries for its `release` and `lost` events: where it came from and since when it
 * is held. Made by {@link EnqueueTrace.acquired}, kept on the queue's ticket.
 */
export interface HoldTrace {
  readonly origin: DiagnosticsOrigin;
  /** performance.now() at acquisition. */
  readonly acquiredAt: number;
}

/**
 * The diagnostics of one enqueue (a `lock()`, `campaign()`, `acquire()` call): `wait` start and
 * end when it has to wait, `acquire` when it gets through. Costs one small object per call; every
 * payload is built only if its channel has a subscriber.
 */
export class EnqueueTrace {
  private readonly startedAt = performance.now();
  private contender: ContenderFields | undefined;
  private contended = false;

  constructor(private readonly origin: DiagnosticsOrigin | undefined) {}

  /** The enqueue transaction found the way blocked (`ahead` keys read ahead): the wait begins. */
  waiting(session: Session, own: KeyValue, ahead: number, revision: bigint): void {
    if (!this.origin || !(listening('wait') || listening('acquire'))) return;
    this.contended = true;
    this.contender = fields(this.origin, session, own);
    if (!listening('wait')) return;
    emit('wait', { ...this.contender, phase: 'start', ahead, revision });
  }

  /** The wait ended without the hold, with `err`. */
  failed(err: unknown, signal: AbortSignal | undefined): void {
    if (!this.contender || !listening('wait')) return;
    const aborted = signal?.aborted === true && signal.reason === err;
    emit('wait', {
      ...this.contender,
      phase: 'end',
      outcome: aborted ? 'aborted' : 'failed',
      durationMs: performance.now() - this.startedAt,
      error: errorName(err),
    });
  }

  /** The caller holds now; returns what its hold carries for its own events. */
  acquired(
    session: Session,
    own: { kv: KeyValue; created: boolean },
    revision: bigint,
  ): HoldTrace | undefined {
    if (!this.origin) return undefined;
    const acquiredAt = performance.now();
    const durationMs = acquiredAt - this.startedAt;
    if (this.contender && listening('wait')) {
      emit('wait', { ...this.contender, phase: 'end', outcome: 'acquired', durationMs });
    }
    if (listening('acquire')) {
      emit('acquire', {
        ...(this.contender ?? fields(this.origin, session, own.kv)),
        durationMs,
        contended: this.contended,
        created: own.created,
        revision,
      });
    }
    return { origin: this.origin, acquiredAt };
  }
}

/** Starts the diagnostics of one enqueue; `origin` names the primitive (none: no events). */
export function traceEnqueue(origin: DiagnosticsOrigin | undefined): EnqueueTrace {
  return new EnqueueTrace(origin);
}

/** A hold was given back by its owner. */
export function holdReleased(
  trace: HoldTrace | undefined,
  session: Session,
  key: string,
  createRevision: bigint,
): void {
  if (!trace || !listening('release')) return;
  emit('release', {
    ...trace.origin,
    key,
    leaseId: session.leaseId,
    createRevision,
    durationMs: performance.now() - trace.acquiredAt,
  });
}

/** A hold was lost with `reason` (what its signal aborted with). */
export function holdLost(
  trace: HoldTrace | undefined,
  session: Session,
  key: string,
  createRevision: bigint,
  reason: unknown,
): void {
  if (!trace || !listening('lost')) return;
  emit('lost', {
    ...trace.origin,
    key,
    leaseId: session.leaseId,
    createRevision,
    cause: lossCause(reason),
    durationMs: performance.now() - trace.acquiredAt,
    error: errorName(reason),
  });
}

/** Tells the cause of a hold's loss from the error its signal aborted with. */
export function lossCause(reason: unknown): LossCause {
  if (reason instanceof HoldLostError) return 'key-deleted';
  if (reason instanceof SessionClosedError) return 'session-closed';
  return sessionCause(reason) ?? 'error';
}

function fields(origin: DiagnosticsOrigin, session: Session, own: KeyValue): ContenderFields {
  return {
    primitive: origin.primitive,
    name: origin.name,
    key: own.key,
    leaseId: session.leaseId,
    createRevision: own.createRevision,
  };
}
