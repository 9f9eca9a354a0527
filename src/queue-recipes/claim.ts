import type { Etcd3 } from 'etcd3';
import { translateError } from '../etcd/etcd-errors.js';
import { keyGone } from '../queue/mirror-wait.js';
import type { KeyValue } from '../etcd/watch.js';
import type { Session } from '../session/session.js';
import type { ClaimKeys } from './layout.js';
import { putBack } from './put-back.js';

/** An item taken at most once: it is gone from etcd, whatever happens to the taker. */
export interface QueueItem {
  /** The item's key in the queue (Go's layout). */
  readonly key: string;
  readonly value: string;
}

/**
 * An item taken at least once, on a session's lease: call {@link done} when the work is finished.
 * If the session ends first (the worker crashed, or its lease was lost), the item goes back into
 * the queue and is delivered again, to one consumer.
 *
 * @example
 * ```ts
 * const claim = await queue.take({ session });
 * try {
 *   await work(claim.value, claim.signal);   // claim.signal aborts if the session ends
 *   await claim.done();
 * } catch (err) {
 *   if (session.isActive) await claim.release(); // give it back now rather than after the TTL
 *   throw err;
 * }
 * ```
 */
export class Claim implements QueueItem {
  readonly value: string;

  /** @internal */
  constructor(
    private readonly client: Etcd3,
    private readonly name: string,
    private readonly session: Session,
    private readonly keys: ClaimKeys,
    private readonly item: KeyValue,
    /** Create revision of the marker: identifies this claim in guards. */
    readonly revision: bigint,
  ) {
    this.value = item.value.toString();
  }

  /** The item's key in the queue (Go's layout). */
  get key(): string {
    return this.keys.itemKey;
  }

  /** The item's value as bytes. */
  get buffer(): Buffer {
    return this.item.value;
  }

  /** Aborted when the claim can no longer be completed by this worker (its session ended). */
  get signal(): AbortSignal {
    return this.session.signal;
  }

  /**
   * Completes the claim: the item is removed for good. Rejects if the claim was lost first — with
   * the session's error if its session ended (the item is, or will be, delivered again), or
   * {@link HoldLostError} if someone deleted the claim — so that the worker knows its work may
   * be done twice.
   */
  async done(): Promise<void> {
    const marker = Buffer.from(this.keys.marker);
    let succeeded: boolean;
    try {
      const res = await this.client.kv.txn({
        compare: [
          { key: marker, target: 'Create', result: 'Equal', create_revision: this.revision.toString() },
        ],
        success: [
          { request_delete_range: { key: marker } },
          { request_delete_range: { key: Buffer.from(this.keys.record) } },
        ],
        failure: [],
      });
      succeeded = res.succeeded;
    } catch (err) {
      throw translateError(err, this.client, this.keys.itemKey);
    }
    if (!succeeded) throw await keyGone(this.session, this.keys.marker, 'before done()');
  }

  /**
   * Gives the item back without doing it (for example on shutdown): it returns to the queue at
   * once, for another consumer. Resolves false if the claim was already lost.
   */
  release(): Promise<boolean> {
    return putBack(this.client, this.name, this.keys, this.recordAsRead(), {
      compare: [
        {
          key: Buffer.from(this.keys.marker),
          target: 'Create',
          result: 'Equal',
          create_revision: this.revision.toString(),
        },
      ],
      holds: (marker) => marker?.createRevision === this.revision,
    });
  }

  /** The record as the claiming transaction wrote it (at the marker's revision). */
  private recordAsRead(): KeyValue {
    return {
      key: this.keys.record,
      value: this.item.value,
      createRevision: this.revision,
      modRevision: this.revision,
      leaseId: '0',
    };
  }
}
