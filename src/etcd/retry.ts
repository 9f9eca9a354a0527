import { GRPCDeadlineExceededError } from 'etcd3';
import pRetry from 'p-retry';
import { retryIf, retrying } from '../diagnostics/publish.js';
import { isTransientError } from './etcd-errors.js';
import { untilAborted } from './abort.js';

/**
 * Retries an idempotent call on connection trouble, briefly (the client's deadline bounds each
 * try). The first try runs bare: this is the hot path of every lock and release, and p-retry's
 * bookkeeping is only worth paying once something failed.
 */
export async function retryIdempotent<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!worthRetrying(err) || signal?.aborted) throw err;
    retrying('call', err, 1, 0);
    return pRetry(fn, {
      retries: 2,
      minTimeout: 50,
      maxTimeout: 500,
      shouldRetry: (ctx) => retryIf(worthRetrying(ctx.error), 'call', ctx, 1),
      ...(signal ? { signal } : {}),
    });
  }
}

/**
 * Retries an idempotent call on connection trouble until one of `patience`'s signals aborts (then
 * its reason). A result that arrives after the abort is still returned, never dropped: it may be a
 * key this call created, which the caller must know of to delete it (p-retry would discard it).
 *
 * Several signals are taken as they are, not combined: the first try of every lock() passes the
 * session's and the caller's, and `AbortSignal.any` would cost a combined signal per call that
 * only a retry ever looks at.
 */
export async function retryUntilAborted<T>(
  fn: () => Promise<T>,
  patience: AbortSignal | readonly AbortSignal[],
): Promise<T> {
  const signals: readonly AbortSignal[] = Array.isArray(patience) ? patience : [patience as AbortSignal];
  for (let failures = 0; ; failures++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransientError(err) || signals.some((s) => s.aborted)) throw err;
      retrying('enqueue', err, failures + 1);
    }
    const delay = Math.min(1000, 50 * 2 ** Math.min(failures, 5)) * (0.5 + Math.random() / 2);
    await pause(delay, signals);
  }
}

/** Resolves after `ms`, or rejects with the reason of the first of `signals` to abort. */
/** Resolves after `ms`, or rejects with the reason of the first of `signals` to abort (timer cleared). */
export function pause(ms: number, signals: readonly AbortSignal[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const aborted = signals.find((s) => s.aborted);
    if (aborted) {
      reject(aborted.reason as Error);
      return;
    }
    const done = () => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener('abort', onAbort);
    };
    const onAbort = function (this: AbortSignal) {
      done();
      reject(this.reason as Error);
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Connection trouble that fails fast (refused, reset, leader change) is worth another try; a call
 * that ran into its deadline already spent the whole budget, and repeating it would multiply the
 * caller's wait against a member that does not answer (the next call goes to another member).
 */
function worthRetrying(err: unknown): boolean {
  return isTransientError(err) && !(err instanceof GRPCDeadlineExceededError);
}

/**
 * For a waiting call that must first finish something of its session (a release whose reply was
 * lost): as patient as the wait it is about to start. Connection trouble, deadlines included, is
 * retried until the caller's signal or the session's aborts; either abort rejects at once.
 */
export function patiently<T>(
  fn: () => Promise<T>,
  session: AbortSignal,
  caller: AbortSignal | undefined,
): Promise<T> {
  return untilAborted(retryUntilAborted(fn, caller ? [session, caller] : [session]), caller);
}
