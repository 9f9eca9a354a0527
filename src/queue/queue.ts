import type { DiagnosticsOrigin } from '../diagnostics/events.js';
import { type EnqueueTrace, type HoldTrace, traceEnqueue } from './trace.js';
import { EtcdConcurrencyError, leaseHex } from '../errors.js';
import type { Session } from '../session/session.js';
import { untilAborted } from '../etcd/abort.js';
import { PrefixMirror } from './mirror.js';
import { keyGone, waitOnMirror } from './mirror-wait.js';
import { claimChain, waitInChain } from './chain-wait.js';
import { validateSignal } from '../etcd/validate.js';
import {
  addSuppressed,
  createOrGet,
  deleteIfCreated,
  markLeftBehind,
  type OwnKey,
  type Probe,
} from './guarded.js';
import type { KeyValue } from '../etcd/watch.js';

/**
 * Whether a contender may proceed, given the keys ahead of it (oldest first) and its own key.
 * Must be FIFO-monotone (if a contender must wait, so must every later one) and depend only on
 * keys under the request's `probe.prefix`.
 */
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
  /**
   * What the enqueue transaction reads to decide at once, without a watch: the keys under
   * `probe.prefix`, oldest first, at most `probe.limit`. If more keys than that are ahead, the
   * contender is not ready (a Mutex reads 1 key: the owner; a Semaphore its permits + 1).
   */
  probe: Probe;
  /**
   * The contender is ready exactly when no key under `prefix` is older than its own (a Mutex, a
   * writer, a candidate): its wait may then watch only the key just ahead (./chain-wait.ts).
   */
  exclusive?: boolean | undefined;
  signal?: AbortSignal | undefined;
  /** Names the primitive in the diagnostics events (none: no events). */
  origin?: DiagnosticsOrigin | undefined;
}

/** A place at the front of a queue: what a {@link Hold} is built from. */
export interface Ticket {
  key: string;
  kv: KeyValue;
  /** The queue's prefix (a hold watches its own key through the prefix's mirror). */
  prefix: string;
  /** The revision at which the own key was known to be at the front. */
  revision: bigint;
  /**
   * The prefix's mirror if the wait used one, caught up to `revision`: the ticket owns one
   * reference, handed on to the hold. Undefined when the enqueue transaction alone decided.
   */
  mirror: PrefixMirror | undefined;
  /** What the hold needs for its `release` and `lost` diagnostics events. */
  trace?: HoldTrace | undefined;
}

/** The outcome of {@link tryEnqueue} when the queue is not ready for us. */
export interface Blocked {
  /** The keys ahead as the enqueue transaction read them, oldest first (at most `probe.limit`). */
  ahead: KeyValue[];
}

/**
 * The revision-ordered queue every waiting primitive is built on:
 * 1. one transaction creates the own key on the session's lease (or finds it) and reads the keys
 *    ahead: uncontended, that decides, and no watch is opened;
 * 2. otherwise an exclusive contender that is its client's only waiter in this queue watches
 *    just the key ahead of it (./chain-wait.ts: what a release costs does not grow with the
 *    number of clients), and every other one waits on the prefix's mirror, caught up with that
 *    revision, so every key ahead is known;
 * 3. the wait ends when `isReady` holds, re-checked only when a key ahead is deleted.
 * No polling, no timers. An abort, the session's end or the own key's deletion ends the wait (in
 * the chain, the own key's deletion is found when the key ahead goes); on abort the own key is
 * deleted (guarded by its create revision) before the promise rejects.
 *
 * Success is reported only while it is true: the session's loss deadline has not passed (a
 * process that was paused may handle a watch event before its deadline timer) and the own key
 * is present with its create revision. The hold is built by `build` in that same instant, so no
 * event falls between the wait and the hold's watch.
 */
export async function enqueue<H>(req: EnqueueRequest, build: (ticket: Ticket) => H): Promise<H> {
  const { session, signal } = req;
  begin(req);
  const trace = traceEnqueue(req.origin);
  // A caller that waits anyway rides out an etcd outage until its signal or its session ends.
  const patience = signal ? [session.signal, signal] : [session.signal];
  const probe: Probe = req.exclusive ? { prefix: req.prefix, limit: 2, newest: true } : req.probe;
  const own = await createOwnKey({ ...req, probe }, patience);
  const key = own.kv.key;
  let mirror: PrefixMirror | undefined;
  let chain: (() => void) | undefined;
  try {
    if (signal?.aborted) throw signal.reason as Error;
    if (session.expireIfDue()) throw session.signal.reason as Error;
    if (req.exclusive) {
      const newest = own.probed[0];
      const first = newest?.key === key && newest.createRevision === own.kv.createRevision;
      if (first && own.probedCount === 1) return build(ticketOf(req, own, undefined, trace));
      // One waiter of this client in the queue watches the key ahead; more share the mirror.
      if (!PrefixMirror.exists(session.client, req.prefix)) chain = claimChain(session.client, req.prefix);
      if (chain) {
        trace.waiting(session, own.kv, waitingBehind(req, own), own.revision);
        const next = first ? own.probed[1] : undefined;
        const revision = await waitInChain({
          client: session.client,
          session,
          prefix: req.prefix,
          own: own.kv,
          ahead: next && { key: next.key, createRevision: next.createRevision },
          knownAt: own.revision,
          patience,
          signal,
        });
        // Success only while it is true (see above); the hold watches its key from `revision` on.
        if (signal?.aborted) throw signal.reason as Error;
        if (session.expireIfDue()) throw session.signal.reason as Error;
        return build(ticketOf(req, own, undefined, trace, revision));
      }
    } else if (decide(req, own) === 'ready') {
      return build(ticketOf(req, own, undefined, trace));
    }
    trace.waiting(session, own.kv, waitingBehind(req, own), own.revision);
    mirror = PrefixMirror.acquire(session.client, req.prefix);
    await untilAborted(mirror.caughtUp(own.revision), signal, session.signal);
    const m = mirror;
    let hold: H | undefined;
    await waitOnMirror({ mirror: m, session, own: own.kv, signal, when: 'while waiting' }, (finish) => {
      const remove = m.addWaiter({
        rev: own.kv.createRevision,
        key,
        isReady: req.isReady,
        ready: () => {
          // Synchronously, in the event that made us first: nothing may act on stale belief.
          if (session.expireIfDue()) return; // the session's abort ends the wait with its reason
          try {
            hold = build(ticketOf(req, own, m, trace, m.revision));
            finish();
          } catch (err) {
            finish(err as Error);
          }
        },
      });
      // The own key is checked just before: a false here means it vanished in between.
      if (remove === false) {
        void keyGone(session, key, 'before the wait began').then(finish);
        return undefined;
      }
      return remove;
    });
    return hold!;
  } catch (err) {
    trace.failed(err, signal);
    await abandon(req, own, mirror, err);
    throw err;
  } finally {
    chain?.();
  }
}

/**
 * Like {@link enqueue} but never waits, and never watches: the enqueue transaction decides. If
 * the queue is not ready, removes the own key (the session's key is this call's: a primitive
 * never runs two calls on one key at once) and reports what is ahead. Bounded by the client's
 * deadline whatever etcd or the watch stream do.
 */
export async function tryEnqueue<H>(req: EnqueueRequest, build: (ticket: Ticket) => H): Promise<H | Blocked> {
  begin(req);
  const trace = traceEnqueue(req.origin);
  const own = await createOwnKey(req, undefined);
  try {
    if (req.session.expireIfDue()) throw req.session.signal.reason as Error;
    if (decide(req, own) === 'ready') return build(ticketOf(req, own, undefined, trace));
  } catch (err) {
    await abandon(req, own, undefined, err);
    throw err;
  }
  await abandon(req, own, undefined, undefined);
  return { ahead: aheadOf(own) };
}

/** How many keys the enqueue transaction saw ahead of a contender that is going to wait. */
function waitingBehind(req: EnqueueRequest, own: OwnKey): number {
  return req.exclusive ? Math.max(1, own.probedCount - 1) : aheadOf(own).length;
}

/** The probed keys ahead of the own key, oldest first. */
function aheadOf(own: OwnKey): KeyValue[] {
  return own.probed.filter((kv) => kv.createRevision < own.kv.createRevision);
}

function begin(req: EnqueueRequest): void {
  validateSignal(req.signal, req.prefix);
  req.signal?.throwIfAborted();
  req.session.throwIfEnded();
}

/**
 * What the enqueue transaction's probe says. It read the oldest `limit` keys under the probe's
 * prefix; if every key there older than ours is among them, the predicate decides now. If the
 * list is cut short before our key, at least `limit` keys are ahead: not ready.
 */
function decide(req: EnqueueRequest, own: OwnKey): 'ready' | 'blocked' {
  const ahead = aheadOf(own);
  const complete =
    req.probe.limit === 0 || own.probed.length < req.probe.limit || ahead.length < own.probed.length;
  return complete && req.isReady(ahead, own.kv) ? 'ready' : 'blocked';
}

function ticketOf(
  req: EnqueueRequest,
  own: OwnKey,
  mirror: PrefixMirror | undefined,
  trace: EnqueueTrace,
  revision = own.revision,
): Ticket {
  const hold = trace.acquired(req.session, own, revision);
  return { key: own.kv.key, kv: own.kv, prefix: req.prefix, revision, mirror, trace: hold };
}

/**
 * Gives up a place in the queue: deletes the own key (guarded by its create revision), releases
 * the mirror. A failed delete is attached to the error being thrown (`suppressed`), never dropped.
 */
async function abandon(
  req: EnqueueRequest,
  own: OwnKey,
  mirror: PrefixMirror | undefined,
  reason: unknown,
): Promise<void> {
  try {
    if (own.created && req.session.isActive) {
      await deleteIfCreated(req.session.client, own.kv.key, own.kv.createRevision).catch((err: unknown) => {
        if (reason === undefined) throw err;
        addSuppressed(reason, err);
        markLeftBehind(reason, own.kv.key, own.kv.createRevision);
      });
    }
  } finally {
    mirror?.release();
  }
}

/**
 * Creates the own key, or finds this session's existing one. A key on this session's lease is
 * this call's to delete when it gives up (`created`): it made it (perhaps in a try whose reply
 * was lost), or it is a leftover of an earlier call of this session whose cleanup failed — a
 * primitive never runs two calls on one key at once. A key found on another lease is never taken
 * for ours: a unique-key maker is asked again (a collision of two processes in one nanosecond
 * slot); a fixed key on a foreign lease means two sessions share an identity.
 */
async function createOwnKey(
  req: EnqueueRequest,
  patience: readonly AbortSignal[] | undefined,
): Promise<OwnKey> {
  for (let attempt = 0; ; attempt++) {
    const key = typeof req.key === 'string' ? req.key : req.key();
    const own = await createOrGet(req.session, key, req.value, { patience, probe: req.probe });
    if (own.created || own.kv.leaseId === req.session.leaseId) return { ...own, created: true };
    if (typeof req.key === 'string' || attempt >= 5) {
      throw new EtcdConcurrencyError(
        `Key "${key}" exists on lease ${leaseHex(own.kv.leaseId)}, not on this session's lease ${leaseHex(req.session.leaseId)}: ` +
          "another client wrote this session's key (same lease id in hex under the same name). " +
          'Give each process its own Session, or delete the stray key if it is a leftover',
      );
    }
  }
}

export { keyGone };
export { leftBehind } from './guarded.js';
