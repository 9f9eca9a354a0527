import type { Etcd3 } from 'etcd3';
import { EtcdLeaseInvalidError, GRPCDeadlineExceededError } from 'etcd3';
import type { Session } from '../session/session.js';
import { isTransientError, translateError } from '../etcd/etcd-errors.js';
import { type KeyValue, prefixRangeEnd } from '../etcd/kv.js';
import { retryIdempotent, retryUntilAborted } from '../etcd/retry.js';
import { txn, type TxnOp, type TxnResult } from '../etcd/txn.js';

/**
 * Guarded operations on a contender's own key: created only if absent, deleted only while its
 * create revision (or lease) is still ours, so a retried or late call never touches a newer key.
 */

/** Which keys the enqueue transaction reads besides the own key: see {@link createOrGet}. */
export interface Probe {
  /** Keys under this prefix, oldest (lowest create revision) first. */
  prefix: string;
  /** At most this many (0: all). */
  limit: number;
  /** Newest first instead: the own key and the keys just ahead of it (see ./chain-wait.ts). */
  newest?: boolean | undefined;
}

/** What {@link createOrGet} found. */
export interface OwnKey {
  kv: KeyValue;
  /**
   * True if this call made the key: the try that succeeded created it, or an earlier try whose
   * reply was lost did (a later try found it on this session's lease). The caller deletes it
   * when it gives up.
   */
  created: boolean;
  /**
   * The probe's keys as of the transaction, oldest first, or newest first if the probe asked so
   * (the own key among them if it matches).
   */
  probed: KeyValue[];
  /** How many keys the probe's prefix held in all (0 without a probe). */
  probedCount: number;
  /** etcd's revision when the transaction ran. */
  revision: bigint;
}

/**
 * In one transaction: creates `key` with `value` on the session's lease unless it exists (else
 * reads it), and reads the `probe` keys, so a caller can decide "am I first?" from this one round
 * trip, as Go's `tryAcquire` does with the owner's key.
 *
 * A try that failed after it may have reached etcd (a lost reply, a deadline) makes the outcome
 * ambiguous: the next try then finds the key on our lease, and it is this call's (reported as
 * `created`), never "someone else's" to leave behind. Without `patience` a lost reply is not
 * retried: the key is deleted if it may exist (guarded by our lease) and the error is thrown.
 * A dead lease ends the session at once and throws its error.
 *
 * With `patience`, connection trouble is retried until one of its signals aborts: a caller that is going
 * to wait anyway (lock(), campaign(), acquire()) rides out an etcd restart instead of failing; the
 * session's end (its lease cannot outlive a long outage) or the caller's abort stops it.
 */
export async function createOrGet(
  session: Session,
  key: string,
  value: string | Buffer,
  options: { patience?: readonly AbortSignal[] | undefined; probe?: Probe | undefined } = {},
): Promise<OwnKey> {
  const { patience, probe } = options;
  const client = session.client;
  const k = Buffer.from(key);
  const v = Buffer.from(value);
  const probeRange: TxnOp[] = probe
    ? [
        {
          kind: 'range',
          key: Buffer.from(probe.prefix),
          rangeEnd: prefixRangeEnd(probe.prefix),
          sortTarget: 'Create',
          sortOrder: probe.newest ? 'Descend' : 'Ascend',
          limit: BigInt(probe.limit),
        },
      ]
    : [];
  const request = {
    // Create only if absent: a retry, or a second call of this session, finds the key instead.
    compare: [{ key: k, target: 'Create', result: 'Equal', operand: 0n }],
    // Ours now, on the session's lease so that it vanishes with the session; then who is ahead.
    success: [{ kind: 'put', key: k, value: v, lease: BigInt(session.leaseId) }, ...probeRange],
    // Already there: whose it is (lease, create revision), then who is ahead.
    failure: [{ kind: 'range', key: k }, ...probeRange],
  } as const;
  let ambiguous = false;
  const attempt = async () => {
    try {
      return await txn(client, request);
    } catch (err) {
      if (mayHaveRun(err)) ambiguous = true;
      throw err;
    }
  };
  let res: TxnResult;
  try {
    res = await (patience ? retryUntilAborted(attempt, patience) : retryIdempotent(attempt));
  } catch (err) {
    if (err instanceof EtcdLeaseInvalidError) {
      session.reportLeaseGone();
      session.throwIfEnded();
    }
    const failure = translateError(err, client, key);
    if (ambiguous && session.isActive) await deleteOwnedBy(session, key, failure);
    throw failure;
  }
  const revision = res.revision;
  const probedOp = res.responses[1];
  const probed = probe && probedOp?.kind === 'range' ? probedOp.kvs : [];
  const probedCount = probe && probedOp?.kind === 'range' ? Number(probedOp.count) : 0;
  if (res.succeeded) {
    const kv: KeyValue = {
      key,
      value: v,
      createRevision: revision,
      modRevision: revision,
      leaseId: session.leaseId,
    };
    return { created: true, kv, probed, probedCount, revision };
  }
  const own = res.responses[0];
  const kv = own?.kind === 'range' ? own.kvs[0] : undefined;
  if (!kv) throw new Error(`etcd returned no key for "${key}" from the else branch of its transaction`);
  return { created: ambiguous && kv.leaseId === session.leaseId, kv, probed, probedCount, revision };
}

/**
 * Deletes `key` if it is on the session's lease: the cleanup after a create whose outcome is
 * unknown. A failure to clean up is attached to `failure` (never dropped: it is a leaked key
 * until the session ends).
 */
async function deleteOwnedBy(session: Session, key: string, failure: Error): Promise<void> {
  const k = Buffer.from(key);
  try {
    // Patient for a while: the connection that lost the reply is often being replaced right now.
    await retryUntilAborted(
      () =>
        txn(session.client, {
          compare: [{ key: k, target: 'Lease', result: 'Equal', operand: BigInt(session.leaseId) }],
          success: [{ kind: 'deleteRange', key: k }],
          failure: [],
        }),
      [session.signal, AbortSignal.timeout(CLEANUP_PATIENCE_MS)],
    );
  } catch (cleanup) {
    addSuppressed(failure, cleanup);
    markLeftBehind(failure, key, undefined);
  }
}

const left = new WeakMap<object, { key: string; createRevision: bigint | undefined }>();

/** Records on `err` that `key` may still exist because deleting it failed (revision if known). */
export function markLeftBehind(err: unknown, key: string, createRevision: bigint | undefined): void {
  if (typeof err === 'object' && err !== null) left.set(err, { key, createRevision });
}

/**
 * The key a failed call may have left in etcd (its cleanup failed too), with its create
 * revision when known: the owner's next call (resign(), unlock()) deletes it.
 */
export function leftBehind(err: unknown): { key: string; createRevision: bigint | undefined } | undefined {
  return typeof err === 'object' && err !== null ? left.get(err) : undefined;
}

/** How long the cleanup after an ambiguous create keeps trying before it gives up (and says so). */
const CLEANUP_PATIENCE_MS = 2000;

/**
 * Whether a failed call may have been executed by etcd: its deadline passed or its connection
 * broke after it was sent. A call that never found a connection did not run.
 */
function mayHaveRun(err: unknown): boolean {
  if (!(isTransientError(err) || err instanceof GRPCDeadlineExceededError)) return false;
  const message = err instanceof Error ? err.message : '';
  return !/No connection established|ECONNREFUSED|Failed to connect/i.test(message);
}

/**
 * Records that cleaning up after `err` failed too (Java's addSuppressed): the cleanup's error is
 * kept on `err.suppressed` for whoever logs it, instead of being swallowed.
 */
export function addSuppressed(err: unknown, cleanup: unknown): void {
  if (typeof err !== 'object' || err === null) return;
  const holder = err as { suppressed?: unknown[] };
  (holder.suppressed ??= []).push(cleanup);
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
        txn(client, {
          compare: [{ key: k, target: 'Create', result: 'Equal', operand: rev }],
          success: [{ kind: 'deleteRange', key: k }],
          failure: [],
        }),
      signal,
    );
    return res.succeeded;
  } catch (err) {
    throw translateError(err, client, key);
  }
}
