import { isTransientError } from '../etcd/etcd-errors.js';
import { deleteIfCreated } from './guarded.js';
import { validateSignal } from '../etcd/validate.js';
import {
  HoldLostError,
  InvalidArgumentError,
  NotLeaderError,
  SessionClosedError,
  SessionExpiredError,
} from '../errors.js';
import type { Hold } from './hold.js';
import { Session } from '../session/session.js';

/**
 * The work done while holding: runs until `signal` aborts (leadership or the session lost, or
 * the loop stopped), then settles. Its next term starts only after it has settled.
 */
export type HeldWork = (signal: AbortSignal, hold: Hold) => Promise<void> | void;

/** Where an error reported to {@link HoldForeverOptions.onError} came from. */
export interface HoldForeverErrorContext {
  /**
   * `'work'`: the work function threw or rejected while it still held; `'session'`: creating a
   * new session failed; `'acquire'`: campaigning or locking failed; `'release'`: resigning or
   * unlocking failed (the session is then closed, so the key goes with its lease).
   */
  during: 'work' | 'session' | 'acquire' | 'release';
  /** The fencing token (term) of the hold the error concerns, if there was one. */
  fencingToken?: bigint;
}

/** Options of `election.lead()` and `mutex.runExclusive()`. */
export interface HoldForeverOptions {
  /** Stops the loop: the work's signal aborts with its reason, the hold is given back, then the promise resolves. */
  signal?: AbortSignal;
  /**
   * TTL in seconds of the sessions the loop creates after the first one ends.
   * @default the TTL of the session the Election or Mutex was built on
   */
  ttl?: number;
  /**
   * Called for every failure the loop rides out: etcd unreachable while it creates a session or
   * campaigns (always retried), and errors thrown by the work. Without `onError`, an error thrown
   * by the work stops the loop: the hold is given back and the promise rejects with that error.
   * With it, the loop reports the error, gives the hold back and tries again after a backoff.
   * Errors that retrying cannot fix (permission denied, a closed client) always stop the loop.
   * `onError` must not throw.
   */
  onError?: (error: unknown, context: HoldForeverErrorContext) => void;
  /**
   * Delay before acquiring again after a failure: full jitter between `minDelayMs` and a ceiling
   * that doubles with each consecutive failure up to `maxDelayMs`. Also the pause after work that
   * returned on its own, so that a function that returns at once cannot spin.
   * @default { minDelayMs: 100, maxDelayMs: 5000 }
   */
  backoff?: { minDelayMs?: number; maxDelayMs?: number };
}

/** What a primitive gives the loop: how to hold on a given session, and how to give it back. */
export interface Holder {
  /** The name in messages, e.g. `Election "election/workers"`. */
  what: string;
  /** The primitive's name: one loop per session and name. */
  name: string;
  /** The session the primitive was built on (the loop's first session; never closed by the loop). */
  session: Session;
  /** Waits for the hold on `session` (a campaign or a lock); rejects with `signal`'s reason when aborted. */
  acquire(session: Session, signal: AbortSignal): Promise<Held>;
}

/** One acquired hold, as the loop uses it. */
export interface Held {
  hold: Hold;
  /** Resigns or unlocks. */
  release(): Promise<void>;
  /**
   * Ends the term when the hold ends without being lost, e.g. `election.resign()` called on the
   * same session: `hold.signal` only aborts on loss. Call the returned function to stop listening.
   */
  onReleased?(listener: () => void): () => void;
}

/** Names some loop is running on, per session: two loops on one session would share one hold. */
const running = new WeakMap<Session, Set<string>>();

/**
 * Holds `holder` again and again and runs `work` during each hold, until `options.signal`
 * aborts; shared by `election.lead()` and `mutex.runExclusive()`.
 *
 * One term at a time: the loop acquires, runs `work(signal, hold)`, and when the hold is lost
 * (the session ended or the key was deleted) aborts `work`'s signal and waits for `work` to
 * settle before it acquires again, so two terms of one loop never overlap, and each term's
 * fencing token (the own key's create revision) is above the last one's.
 *
 * Sessions: the first terms use the session the primitive was built on. When that session
 * ends, the loop creates a new one on the same client (same TTL unless `ttl` says otherwise),
 * and again whenever the current one ends. It closes every session it created when it stops; it
 * never closes the caller's session, but a hold on it is given back when the loop stops.
 * @internal
 */
export async function holdForever(
  holder: Holder,
  work: HeldWork,
  options: HoldForeverOptions,
): Promise<void> {
  if (typeof work !== 'function') {
    throw new InvalidArgumentError(`${holder.what}: the work to run must be a function`);
  }
  validateSignal(options.signal, holder.what);
  const { signal = new AbortController().signal, onError } = options;
  const ttl = options.ttl ?? holder.session.ttl;
  if (!Number.isInteger(ttl) || ttl <= 0) {
    throw new InvalidArgumentError(`${holder.what}: ttl must be a whole number of seconds ≥ 1, got ${ttl}`);
  }
  const minDelayMs = options.backoff?.minDelayMs ?? 100;
  const maxDelayMs = options.backoff?.maxDelayMs ?? 5000;
  if (!(minDelayMs >= 0 && maxDelayMs >= minDelayMs)) {
    throw new InvalidArgumentError(
      `${holder.what}: backoff needs 0 ≤ minDelayMs ≤ maxDelayMs, got ${minDelayMs} and ${maxDelayMs}`,
    );
  }
  const claim = claimKey(holder);
  const created = new Set<Session>();
  let session = holder.session;
  let failures = 0;
  const pause = async () => {
    const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(failures, 30));
    await sleep(minDelayMs + Math.random() * (ceiling - minDelayMs), signal);
  };
  const report = (error: unknown, context: HoldForeverErrorContext) => {
    // Transient trouble is always ridden out; anything else stops the loop.
    if (!isTransientError(error)) throw error;
    failures++;
    onError?.(error, context);
  };
  try {
    while (!signal.aborted) {
      if (!session.isActive) {
        forgetLostLease(session);
        try {
          session = await Session.create(holder.session.client, { ttl, signal });
        } catch (err) {
          if (signal.aborted) break;
          report(err, { during: 'session' });
          await pause();
          continue;
        }
        created.add(session);
      }
      let held: Held;
      try {
        held = await holder.acquire(session, signal);
      } catch (err) {
        if (signal.aborted) break;
        // The session ended, or the key was deleted, while waiting: acquire again (on a new session).
        if (endsTheHold(err)) continue;
        report(err, { during: 'acquire' });
        await pause();
        continue;
      }
      const outcome = await runTerm(held, work, signal);
      if (outcome.kind === 'threw') {
        await giveBack(held, session, created, onError);
        if (!onError) throw outcome.error;
        failures++;
        onError(outcome.error, { during: 'work', fencingToken: held.hold.fencingToken });
        await pause();
        continue;
      }
      if (outcome.kind === 'returned') {
        // The work is done for this term: give the leadership to the next in line, then queue again.
        await giveBack(held, session, created, onError);
        failures = 0;
        await pause();
        continue;
      }
      failures = 0;
      if (signal.aborted) {
        await giveBack(held, session, created, onError, true);
        break;
      }
      // Lost while the session lives: the hold gave up, but its key may still exist (a failed
      // watch, not a deletion). Delete it, so that the next campaign makes a new key and the next
      // term's fencing token is above this one's instead of taking the same key over.
      if (session.isActive) {
        await deleteIfCreated(session.client, held.hold.key, held.hold.fencingToken).catch((err: unknown) => {
          onError?.(err, { during: 'release', fencingToken: held.hold.fencingToken });
        });
      }
    }
  } catch (err) {
    if (!(signal.aborted && err === signal.reason)) throw err;
  } finally {
    claim();
    await Promise.all([...created].map((s) => closeQuietly(s)));
  }
}

type TermOutcome = { kind: 'returned' } | { kind: 'threw'; error: unknown } | { kind: 'ended' };

/** Runs one term of `work`; its signal aborts when the hold is lost or the loop stops. */
async function runTerm(held: Held, work: HeldWork, stop: AbortSignal): Promise<TermOutcome> {
  const { hold } = held;
  const term = new AbortController();
  const end = (source: AbortSignal) => () => {
    term.abort(source.reason);
  };
  const onLost = end(hold.signal);
  const onStop = end(stop);
  hold.signal.addEventListener('abort', onLost, { once: true });
  stop.addEventListener('abort', onStop, { once: true });
  const unlisten = held.onReleased?.(() => {
    // A loss also ends the hold, and the primitive may hear of it before the hold does (the
    // session's abort listeners run in registration order): let the hold report it with its reason.
    queueMicrotask(() => {
      if (hold.signal.aborted) return;
      term.abort(new HoldLostError(hold.key, 'it was given back (resign or unlock) outside the loop'));
    });
  });
  try {
    if (hold.signal.aborted || !hold.isHeld) return { kind: 'ended' }; // lost between the win and now
    try {
      await work(term.signal, hold);
    } catch (error) {
      // Whatever the work throws once asked to stop is how it stopped, not a failure.
      return term.signal.aborted ? { kind: 'ended' } : { kind: 'threw', error };
    }
    return term.signal.aborted ? { kind: 'ended' } : { kind: 'returned' };
  } finally {
    hold.signal.removeEventListener('abort', onLost);
    stop.removeEventListener('abort', onStop);
    unlisten?.();
  }
}

/**
 * Resigns or unlocks. If that fails (etcd unreachable), a session the loop created is closed, so
 * the key goes with its lease; on the caller's session the error is thrown when the loop stops,
 * since the caller's key may still hold and only the caller can retry or close the session.
 */
async function giveBack(
  held: Held,
  session: Session,
  created: Set<Session>,
  onError: HoldForeverOptions['onError'],
  stopping = false,
): Promise<void> {
  try {
    await held.release();
  } catch (err) {
    if (created.has(session)) {
      onError?.(err, { during: 'release', fencingToken: held.hold.fencingToken });
      await closeQuietly(session);
      return;
    }
    if (stopping) throw err;
    onError?.(err, { during: 'release', fencingToken: held.hold.fencingToken });
  }
}

/**
 * Errors that only say this hold (or campaign) is over: the loop simply acquires again. An
 * AbortError here is a campaign withdrawn by `resign()` outside the loop (the loop's own stop
 * was checked first), treated like a resign while leading.
 */
function endsTheHold(err: unknown): boolean {
  return (
    (err instanceof DOMException && err.name === 'AbortError') ||
    err instanceof SessionExpiredError ||
    err instanceof SessionClosedError ||
    err instanceof HoldLostError ||
    err instanceof NotLeaderError
  );
}

/** Only one loop per session and key: two would share one hold and both run their work. */
function claimKey(holder: Holder): () => void {
  const key = holder.name;
  let keys = running.get(holder.session);
  if (!keys) {
    keys = new Set();
    running.set(holder.session, keys);
  }
  if (keys.has(key)) {
    throw new InvalidArgumentError(
      `${holder.what}: a lead()/runExclusive() loop is already running on this session; ` +
        'stop it first, or give the second loop its own session',
    );
  }
  keys.add(key);
  const mine = keys;
  return () => mine.delete(key);
}

/**
 * A lost session's lease may still exist in etcd (an etcd restart extends leases): revoke it, so
 * that its key does not keep the next term waiting for the TTL. Nobody uses a lost lease any
 * more; it failing (the lease already gone, etcd still down) changes nothing.
 */
function forgetLostLease(session: Session): void {
  if (session.currentState !== 'lost') return;
  session.client.leaseClient.leaseRevoke({ ID: session.leaseId }).catch(() => undefined);
}

/** Closes a session the loop created; its lease is revoked, or expires if etcd is unreachable. */
async function closeQuietly(session: Session): Promise<void> {
  await session.close().catch(() => {
    session.orphan();
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
