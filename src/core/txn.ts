import type { Etcd3, ITxnResponse } from 'etcd3';
import { EtcdLeaseInvalidError, GRPCDeadlineExceededError } from 'etcd3';
import pRetry from 'p-retry';
import type { Session } from '../session/session.js';
import { isTransientError, translateError } from './etcd-errors.js';
import { type KeyValue, toKeyValue } from './watch.js';
import { retryIf, retrying } from '../diagnostics/publish.js';

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
 * Retries an idempotent call on connection trouble until `signal` aborts (then its reason).
 * A result that arrives after the abort is still returned, never dropped: it may be a key this
 * call created, which the caller must know of to delete it (p-retry would discard it).
 */
async function retryUntilAborted<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransientError(err) || signal.aborted) throw err;
      retrying('enqueue', err, failures + 1);
    }
    const delay = Math.min(1000, 50 * 2 ** Math.min(failures, 5)) * (0.5 + Math.random() / 2);
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, delay);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/**
 * Connection trouble that fails fast (refused, reset, leader change) is worth another try; a call
 * that ran into its deadline already spent the whole budget, and repeating it would multiply the
 * caller's wait against a member that does not answer (the next call goes to another member).
 */
function worthRetrying(err: unknown): boolean {
  return isTransientError(err) && !(err instanceof GRPCDeadlineExceededError);
}

/** What {@link createOrGet} found. */
export interface OwnKey {
  kv: KeyValue;
  /** True if this call created the key; false if it already existed. */
  created: boolean;
}

/**
 * In one transaction: creates `key` with `value` on the session's lease unless it exists, else reads
 * it. Retrying after an ambiguous failure is safe: the retry finds the key the first try made.
 * A dead lease ends the session at once and throws its error.
 *
 * With `patience`, connection trouble is retried until that signal aborts: a caller that is going
 * to wait anyway (lock(), campaign(), acquire()) rides out an etcd restart instead of failing; the
 * session's end (its lease cannot outlive a long outage) or the caller's abort stops it.
 */
export async function createOrGet(
  session: Session,
  key: string,
  value: string | Buffer,
  patience?: AbortSignal,
): Promise<OwnKey> {
  const client = session.client;
  const k = Buffer.from(key);
  const attempt = () =>
    client.kv.txn({
      compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key: k, value: Buffer.from(value), lease: session.leaseId } }],
      failure: [{ request_range: { key: k } }],
    });
  let res: ITxnResponse;
  try {
    res = await (patience ? retryUntilAborted(attempt, patience) : retryIdempotent(attempt));
  } catch (err) {
    if (err instanceof EtcdLeaseInvalidError) {
      session.reportLeaseGone();
      session.throwIfEnded();
    }
    throw translateError(err, client, key);
  }
  const revision = BigInt(res.header.revision);
  if (res.succeeded) {
    return {
      created: true,
      kv: {
        key,
        value: Buffer.from(value),
        createRevision: revision,
        modRevision: revision,
        leaseId: session.leaseId,
      },
    };
  }
  const existing = res.responses[0]?.response_range.kvs[0];
  if (!existing) throw new Error(`etcd returned no key for "${key}" from the else branch of its transaction`);
  return { created: false, kv: toKeyValue(existing) };
}

/**
 * Deletes `key` only while its create revision is still `rev`, so a late or retried delete never
 * removes a newer key of the same name. Returns whether it deleted.
 */
export async function deleteIfCreated(
  client: Etcd3,
  key: string,
  rev: bigint,
  signal?: AbortSignal,
): Promise<boolean> {
  const k = Buffer.from(key);
  try {
    const res = await retryIdempotent(
      () =>
        client.kv.txn({
          compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: rev.toString() }],
          success: [{ request_delete_range: { key: k } }],
          failure: [],
        }),
      signal,
    );
    return res.succeeded;
  } catch (err) {
    throw translateError(err, client, key);
  }
}
