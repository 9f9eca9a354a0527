import type { Etcd3 } from 'etcd3';
import { translateError } from '../etcd/etcd-errors.js';
import { uniqueKey } from '../queue/keys.js';
import { itemsPrefix } from './layout.js';
import { WorkQueue } from './work-queue.js';

/**
 * A FIFO work queue with the layout of Go's `recipe.Queue`: each item is a key
 * `name/<unix nanoseconds>` on no lease, and items are taken oldest first (by revision), so Go
 * producers and consumers (`recipe.NewQueue(client, name)`) share the queue with this one.
 *
 * `take()` is at most once, as Go's `Dequeue`; `take({ session })` is at least once: see
 * {@link WorkQueue.take}.
 *
 * @example
 * ```ts
 * const q = new Queue(client, 'jobs/render');
 * await q.enqueue(JSON.stringify({ frame: 1 }));
 * const session = await Session.create(client, { ttl: 10 });
 * const claim = await q.take({ session, signal });   // waits for an item
 * await render(JSON.parse(claim.value));
 * await claim.done();                                // else it is delivered again
 * ```
 */
export class Queue extends WorkQueue {
  constructor(client: Etcd3, name: string) {
    super(client, name, 'revision', 'Queue');
  }

  /**
   * Appends an item; resolves with its key. Like Go's `newUniqueKV`: create the key only if it
   * does not exist, and pick another name on the (nanosecond) collision.
   */
  async enqueue(value: string | Buffer): Promise<string> {
    const bytes = Buffer.from(value);
    for (;;) {
      const key = uniqueKey(itemsPrefix(this.name));
      const k = Buffer.from(key);
      try {
        const res = await this.client.kv.txn({
          compare: [{ key: k, target: 'Version', result: 'Equal', version: 0 }],
          success: [{ request_put: { key: k, value: bytes } }],
          failure: [],
        });
        if (res.succeeded) return key;
      } catch (err) {
        throw translateError(err, this.client, key);
      }
    }
  }
}
