import { EtcdLeaseInvalidError, type Etcd3 } from 'etcd3';
import { translateError } from '../etcd/etcd-errors.js';
import { validateName } from '../queue/keys.js';
import { validateClient, validateSignal } from '../etcd/validate.js';
import { validateSession } from '../session/validate.js';
import type { KeyValue } from '../etcd/watch.js';
import { InvalidArgumentError } from '../errors.js';
import type { Session } from '../session/session.js';
import { Claim, type QueueItem } from './claim.js';
import { type Attempt, Dispatcher, type ItemOrder } from './dispatcher.js';
import { claimKeys, itemsPrefix, newNonce } from './layout.js';
import { Redeliverer } from './redeliverer.js';

/** Options of an at-most-once `take()`. */
export interface TakeOptions {
  /** Abandons the wait: the promise rejects with the signal's reason and no item is taken. */
  signal?: AbortSignal;
}

/** Options of an at-least-once `take()`. */
export interface ClaimOptions extends TakeOptions {
  /** The session whose lease the claim is held on; if it ends before `done()`, the item returns. */
  session: Session;
}

/**
 * What `Queue` and `PriorityQueue` share: the waiting, taking and claiming of items.
 *
 * @example
 * ```ts
 * const item = await queue.take({ signal: AbortSignal.timeout(30_000) });   // at most once
 * const claim = await queue.take({ session, signal });                      // at least once
 * await claim.done();
 * ```
 */
export abstract class WorkQueue {
  /** The queue's name, as given to Go's `NewQueue` / `NewPriorityQueue`. */
  readonly name: string;

  protected constructor(
    readonly client: Etcd3,
    name: string,
    private readonly order: ItemOrder,
    what: string,
  ) {
    validateClient(client, what);
    validateName(name, what);
    this.name = name;
  }

  /**
   * Takes the first item, waiting for one if the queue is empty (on a watch: no polling; one new
   * item wakes one waiting `take()` of this client).
   *
   * Without a session the item is deleted as it is taken, as Go's `Dequeue`: **at most once** —
   * if the caller dies before finishing it, the item is lost.
   *
   * With a session the item is moved, in the same transaction, into a claim on the session's
   * lease: **at least once** — call `claim.done()` when finished; if the session ends first, the
   * item goes back into the queue (exactly once, by one of the live workers) within the lease's
   * TTL plus about a second, and a waiting consumer gets it at once. A worker that dies after its
   * work but before `done()` makes that work run twice: make it idempotent.
   *
   * A lost connection while waiting is ridden out; an abort rejects with the signal's reason and
   * takes nothing (an item claimed in that very moment is given back first).
   */
  take(options?: TakeOptions): Promise<QueueItem>;
  take(options: ClaimOptions): Promise<Claim>;
  async take(options: TakeOptions | ClaimOptions = {}): Promise<QueueItem | Claim> {
    const { signal } = options;
    const session = 'session' in options ? options.session : undefined;
    const what = `${this.constructor.name} "${this.name}".take`;
    validateSignal(signal, what);
    if ('session' in options) validateSession(session, what);
    signal?.throwIfAborted();
    session?.throwIfEnded();
    if (session && session.client !== this.client) {
      throw new InvalidArgumentError(`${what}: the session must be on the same client as the queue`);
    }
    const signals = [signal, session?.signal].filter((s): s is AbortSignal => s !== undefined);
    const dispatcher = Dispatcher.acquire(this.client, itemsPrefix(this.name), this.order);
    try {
      if (session) {
        Redeliverer.enlist(session, this.name);
        return await dispatcher.take<Claim>(
          (item) => this.claim(item, session),
          async (claim) => {
            await claim.release();
          },
          signals,
        );
      }
      return await dispatcher.take<QueueItem>(
        (item) => this.remove(item),
        (item) => this.restore(item),
        signals,
      );
    } finally {
      dispatcher.release();
    }
  }

  /** At most once: delete the item, guarded by its mod revision (Go's `deleteRevKey`). */
  private async remove(item: KeyValue): Promise<Attempt<QueueItem>> {
    const key = Buffer.from(item.key);
    try {
      const res = await this.client.kv.txn({
        compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: item.modRevision.toString() }],
        success: [{ request_delete_range: { key } }],
        failure: [],
      });
      return res.succeeded ? { taken: { key: item.key, value: item.value.toString() } } : { lost: true };
    } catch (err) {
      throw translateError(err, this.client, item.key);
    }
  }

  /** Puts back an item taken at most once for a taker that gave up meanwhile. */
  private async restore(item: QueueItem): Promise<void> {
    const key = Buffer.from(item.key);
    try {
      await this.client.kv.txn({
        compare: [{ key, target: 'Version', result: 'Equal', version: 0 }],
        success: [{ request_put: { key, value: Buffer.from(item.value) } }],
        failure: [],
      });
    } catch (err) {
      throw translateError(err, this.client, item.key);
    }
  }

  /**
   * At least once: in one transaction, delete the item (guarded by its mod revision, as Go's
   * dequeue) and write the claim — the marker on the session's lease and the record holding the
   * item, outside the ranges Go's consumers read.
   */
  private async claim(item: KeyValue, session: Session): Promise<Attempt<Claim>> {
    const keys = claimKeys(this.name, newNonce(), item.key);
    const key = Buffer.from(item.key);
    try {
      const res = await this.client.kv.txn({
        compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: item.modRevision.toString() }],
        success: [
          { request_delete_range: { key } },
          { request_put: { key: Buffer.from(keys.marker), value: key, lease: session.leaseId } },
          { request_put: { key: Buffer.from(keys.record), value: item.value } },
        ],
        failure: [],
      });
      if (!res.succeeded) return { lost: true };
      return { taken: new Claim(this.client, this.name, session, keys, item, BigInt(res.header.revision)) };
    } catch (err) {
      if (err instanceof EtcdLeaseInvalidError) {
        session.reportLeaseGone();
        session.throwIfEnded();
      }
      throw translateError(err, this.client, item.key);
    }
  }
}
