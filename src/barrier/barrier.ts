import type { Etcd3 } from 'etcd3';
import { translateError } from '../etcd/etcd-errors.js';
import { validateName } from '../queue/keys.js';
import { validateClient, validateSignal } from '../etcd/validate.js';
import { retryIdempotent } from '../etcd/retry.js';
import { WatchCompactedError, watch } from '../etcd/watch.js';

/** Options of a waiting call. */
export interface BarrierWaitOptions {
  /** Abandons the wait: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * A barrier that blocks waiters while one key exists, with the layout of Go's
 * `recipes.Barrier`: the barrier is the bare key `key`, on no lease, so Go processes
 * (`recipe.NewBarrier(client, key)`) hold, release and wait on the same barrier.
 *
 * The key has no lease on purpose (as in Go): a barrier outlives the process that raised it, and
 * one held by a process that crashed stays up until someone calls {@link release} (or
 * `etcdctl del key`). Anyone may release it; it has no owner.
 *
 * @example
 * ```ts
 * const barrier = new Barrier(client, 'deploy/gate');
 * await barrier.hold();                       // coordinator: close the gate
 * await barrier.wait({ signal });             // workers: block until it opens
 * await barrier.release();                    // coordinator: open it, every waiter proceeds
 * ```
 */
export class Barrier {
  /** The barrier key. */
  readonly key: string;

  constructor(
    readonly client: Etcd3,
    key: string,
  ) {
    validateClient(client, 'Barrier');
    validateName(key, 'Barrier');
    this.key = key;
  }

  /**
   * Raises the barrier: creates its key unless it exists. Resolves `true` if this call created
   * it, `false` if the barrier was already held. Go's `Hold` returns `ErrKeyExists` in that case;
   * we do not treat it as an error because a barrier has no owner (anyone may release it), so a
   * second hold is not a conflict, and a hold retried after a lost reply must not fail. Check the
   * result if your protocol needs exactly one holder.
   */
  async hold(): Promise<boolean> {
    const k = Buffer.from(this.key);
    try {
      const res = await retryIdempotent(() =>
        this.client.kv.txn({
          compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [{ request_put: { key: k, value: Buffer.alloc(0) } }],
          failure: [],
        }),
      );
      return res.succeeded;
    } catch (err) {
      throw translateError(err, this.client, this.key);
    }
  }

  /** Lowers the barrier: deletes its key, releasing every waiter. Idempotent. */
  async release(): Promise<void> {
    try {
      await retryIdempotent(() => this.client.kv.deleteRange({ key: Buffer.from(this.key) }));
    } catch (err) {
      throw translateError(err, this.client, this.key);
    }
  }

  /**
   * Resolves at once if the barrier is not held, else when its key is deleted. Reads the key,
   * then watches it for a delete from the revision after the read, so a release between the two
   * is never missed; the watch is cancelled when the wait ends, whichever way.
   */
  async wait(options: BarrierWaitOptions = {}): Promise<void> {
    const { signal } = options;
    validateSignal(signal, `Barrier "${this.key}".wait`);
    signal?.throwIfAborted();
    for (;;) {
      let revision: bigint;
      try {
        const res = await retryIdempotent(() => this.client.kv.range({ key: Buffer.from(this.key) }), signal);
        if (res.kvs.length === 0) return;
        revision = BigInt(res.header.revision);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        throw translateError(err, this.client, this.key);
      }
      // Starting right after the read keeps the watch synced (no catch-up delay) and gap-free.
      if (await this.deleted(revision + 1n, signal)) return;
      // The start revision was compacted away: read again and watch from there.
    }
  }

  /** Resolves true on the first delete from `from` on, false if that revision was compacted. */
  private deleted(from: bigint, signal: AbortSignal | undefined): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const onAbort = () => {
        subscription.unsubscribe();
        reject(signal?.reason as Error);
      };
      const subscription = watch(
        this.client,
        { key: this.key },
        { startRevision: from, only: 'delete' },
      ).subscribe({
        next: () => {
          signal?.removeEventListener('abort', onAbort);
          subscription.unsubscribe();
          resolve(true);
        },
        error: (err: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          if (err instanceof WatchCompactedError) resolve(false);
          else reject(translateError(err, this.client, this.key));
        },
      });
      if (subscription.closed) return;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
