import type { Session } from '../session/session.js';
import { untilAborted } from './abort.js';
import { PrefixMirror } from './mirror.js';
import { keyGone, waitOnMirror } from './mirror-wait.js';
import { validateSignal } from './validate.js';
import { createOrGet, deleteIfCreated, type OwnKey } from './txn.js';
import type { KeyValue } from './watch.js';
import type { DiagnosticsOrigin } from '../diagnostics/events.js';
import { traceEnqueue, type HoldTrace } from '../diagnostics/trace.js';

/** Whether a contender may proceed, given every key ahead of it (oldest first) and its own key. */
export type ReadyPredicate = (ahead: readonly KeyValue[], self: KeyValue) => boolean;

export interface EnqueueRequest {
  session: Session;
  /** The prefix whose keys form the queue (keys ahead are looked up under it). */
  prefix: string;
  /**
   * Own key, under `prefix`: a fixed key (a session's key, found again if it exists) or a maker
   * of unique keys (called again if the key it made belongs to another lease).
   */
  key: string | (() => string);
  value: string | Buffer;
  isReady: ReadyPredicate;
  signal?: AbortSignal | undefined;
  /** Names the primitive in diagnostics events (none: the call publishes nothing). */
  origin?: DiagnosticsOrigin;
}

/** A place at the front of a queue: the caller now holds what it waited for. */
export interface Ticket {
  key: string;
  kv: KeyValue;
  /** The queue's mirror; the ticket owns one reference, handed on to the hold built from it. */
  mirror: PrefixMirror;
  /** True if this enqueue created the key (false: the session's key already existed). */
  created: boolean;
  /** For the hold's diagnostics events. */
  trace?: HoldTrace | undefined;
}

/** The outcome of {@link tryEnqueue} when the queue is not ready for us. */
export interface Blocked {
  /** The keys ahead, oldest first (the first is the holder of a mutex). */
  ahead: KeyValue[];
}

/**
 * The revision-ordered queue every waiting primitive is built on:
 * 1. one transaction creates the own key on the session's lease (or finds it);
 * 2. the prefix's mirror catches up with that revision, so every key ahead is known;
 * 3. the wait ends when `isReady` holds, re-checked only when a key ahead is deleted.
 * No polling, no timers. An abort, the session's end or the own key's deletion ends the wait;
 * on abort the own key is deleted (guarded by its create revision) before the promise rejects.
 */
export async function enqueue(req: EnqueueRequest): Promise<Ticket> {
  const { session, signal } = req;
  const trace = traceEnqueue(req.origin);
  const joined = await join(req, true);
  const { mirror, own } = joined;
  const key = own.kv.key;
  try {
    trace.waiting(session, mirror, own.kv, req.isReady);
    await waitOnMirror({ mirror, session, own: own.kv, signal, when: 'while waiting' }, (finish) => {
      const remove = mirror.addWaiter({
        rev: own.kv.createRevision,
        key,
        isReady: req.isReady,
        ready: () => {
          finish();
        },
      });
      // The own key is checked just before: a false here means it vanished in between.
      if (remove === false) {
        void keyGone(session, key, 'before the wait began').then(finish);
        return undefined;
      }
      return remove;
    });
  } catch (err) {
    trace.failed(err, signal);
    await abandon(joined, req);
    throw err;
  }
  return { key, kv: own.kv, mirror, created: own.created, trace: trace.acquired(session, mirror, own) };
}

/**
 * Like {@link enqueue} but never waits: if the queue is not ready, removes the own key (only if
 * this call created it, so a session's key that another call is waiting with survives) and
 * reports what is ahead.
 */
export async function tryEnqueue(req: EnqueueRequest): Promise<Ticket | Blocked> {
  const trace = traceEnqueue(req.origin);
  const joined = await join(req, false);
  const { mirror, own } = joined;
  const key = own.kv.key;
  const self = mirror.get(key);
  if (!self || self.createRevision !== own.kv.createRevision) {
    await abandon(joined, req);
    throw await keyGone(req.session, key, 'before it could be checked');
  }
  const ahead = mirror.ahead(own.kv.createRevision);
  if (req.isReady(ahead, self))
    return { key, kv: own.kv, mirror, created: own.created, trace: trace.acquired(req.session, mirror, own) };
  await abandon(joined, req);
  return { ahead };
}

interface Joined {
  mirror: PrefixMirror;
  own: { kv: KeyValue; created: boolean };
}

/** Steps 1 and 2: own key created or found, and the mirror has applied everything up to it. */
async function join(req: EnqueueRequest, patient: boolean): Promise<Joined> {
  const { session, signal } = req;
  validateSignal(signal, req.prefix);
  signal?.throwIfAborted();
  session.throwIfEnded();
  const mirror = PrefixMirror.acquire(session.client, req.prefix);
  let own: Joined['own'] | undefined;
  try {
    await untilAborted(mirror.ready(), signal, session.signal);
    // A caller that waits anyway rides out an etcd outage until its signal or its session ends.
    const patience = patient ? AbortSignal.any([session.signal, ...(signal ? [signal] : [])]) : undefined;
    own = await createOwnKey(req, patience);
    await untilAborted(mirror.caughtUp(own.kv.createRevision), signal, session.signal);
    return { mirror, own };
  } catch (err) {
    if (own) await abandon({ mirror, own }, req);
    else mirror.release();
    throw err;
  }
}

/** Gives up a place in the queue: deletes the own key if this call made it, releases the mirror. */
async function abandon({ mirror, own }: Joined, req: EnqueueRequest): Promise<void> {
  try {
    if (own.created && req.session.isActive) {
      await deleteIfCreated(req.session.client, own.kv.key, own.kv.createRevision).catch(() => undefined);
    }
  } finally {
    mirror.release();
  }
}

/**
 * Creates the own key, or finds this session's existing one. A key found on another lease is
 * never taken for ours: a unique-key maker is asked again (a collision of two processes in one
 * nanosecond slot); a fixed key on a foreign lease means two sessions share an identity.
 */
async function createOwnKey(req: EnqueueRequest, patience: AbortSignal | undefined): Promise<OwnKey> {
  for (let attempt = 0; ; attempt++) {
    const key = typeof req.key === 'string' ? req.key : req.key();
    const own = await createOrGet(req.session, key, req.value, patience);
    if (own.created || own.kv.leaseId === req.session.leaseId) return own;
    if (typeof req.key === 'string' || attempt >= 5) {
      throw new Error(`key "${key}" exists on lease ${own.kv.leaseId}, not on this session's lease`);
    }
  }
}

export { keyGone };
