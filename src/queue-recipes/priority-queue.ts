import type { Etcd3 } from 'etcd3';
import { translateError } from '../etcd/etcd-errors.js';
import { InvalidArgumentError } from '../errors.js';
import { priorityPrefix, sequentialKey } from './layout.js';
import { readSequence } from './sequence.js';
import { WorkQueue } from './work-queue.js';

/**
 * A priority work queue with the layout of Go's `recipe.PriorityQueue`: items are keys
 * `name/<priority %05d>/<sequence %016d>` on no lease, taken in key order — the lowest priority
 * number first, FIFO within a priority — so Go producers and consumers
 * (`recipe.NewPriorityQueue(client, name)`) share the queue with this one. Go's bookkeeping key
 * `__name/<priority>` (one per priority used, never deleted, as in Go) keeps two producers from
 * taking the same sequence number.
 *
 * `take()` is at most once, as Go's `Dequeue`; `take({ session })` is at least once: see
 * {@link WorkQueue.take}. A waiting consumer takes the best item it knows of when it wakes (Go's
 * takes the first one put).
 *
 * @example
 * ```ts
 * const pq = new PriorityQueue(client, 'jobs/urgent');
 * await pq.enqueue('rebuild-index', 5);
 * await pq.enqueue('page-oncall', 0);        // taken first
 * const { value } = await pq.take({ signal });
 * ```
 */
export class PriorityQueue extends WorkQueue {
  constructor(client: Etcd3, name: string) {
    super(client, name, 'key', 'PriorityQueue');
  }

  /**
   * Adds an item at `priority` (an integer 0…65535, lower is taken first); resolves with its key.
   * As Go's `newSequentialKV`: read the last key of that priority, then create the next one in a
   * transaction that fails if the priority's bookkeeping key changed since the read (then it
   * tries again). Numbers are never reused by our producers (see `readSequence`).
   */
  async enqueue(value: string | Buffer, priority: number): Promise<string> {
    if (!Number.isInteger(priority) || priority < 0 || priority > 0xffff) {
      throw new InvalidArgumentError(
        `PriorityQueue "${this.name}".enqueue: priority must be an integer from 0 to 65535 (Go's uint16), got ${priority}`,
      );
    }
    const bytes = Buffer.from(value);
    for (;;) {
      let key = priorityPrefix(this.name, priority);
      try {
        const slot = await readSequence(this.client, this.name, priority);
        key = sequentialKey(this.name, priority, slot.next);
        const res = await this.client.kv.txn({
          compare: [slot.compare],
          success: [slot.record(slot.next), { request_put: { key: Buffer.from(key), value: bytes } }],
          failure: [],
        });
        if (res.succeeded) return key;
      } catch (err) {
        throw translateError(err, this.client, key);
      }
    }
  }
}
