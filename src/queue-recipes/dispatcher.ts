import type { Etcd3 } from 'etcd3';
import { clientState, slotKey } from '../etcd/client-state.js';
import { isTransientError } from '../etcd/etcd-errors.js';
import { PrefixMirror } from '../queue/mirror.js';
import type { KeyValue } from '../etcd/watch.js';

/** How a queue orders its items: Go's Queue by revision, Go's PriorityQueue by key. */
export type ItemOrder = 'revision' | 'key';

/** What one try to take an item gives: the item, or `lost` (another consumer took it first). */
export type Attempt<R> = { taken: R } | { lost: true };

/** One waiting `take()`. */
interface Taker<R> {
  attempt(item: KeyValue): Promise<Attempt<R>>;
  /** Gives back an item taken for a taker that was abandoned meanwhile. */
  undo(taken: R): Promise<void>;
  resolve(taken: R): void;
  reject(err: Error): void;
  /** Set when the caller gave up; an attempt in flight finishes first, then is undone. */
  abandoned: Error | undefined;
  busy: boolean;
}

/** The client's dispatchers, by order and prefix. */
const DISPATCHERS = slotKey<Map<string, Dispatcher>>('queue dispatchers');

/**
 * Hands the items of one queue to the `take()` calls of one client, oldest first.
 *
 * The client keeps one mirror of the queue's items (one synced watch, see PrefixMirror), and
 * every taker of the client waits on it: a new item is offered to the first waiting taker only,
 * so one item wakes one consumer, not all of them. Consumers in other processes race for the
 * same item; the guarded delete lets one win, and a loser marks the item as tried (at that
 * mod revision) and waits for the next change of the mirror instead of trying again: no polling
 * and no busy loop.
 */
export class Dispatcher {
  private readonly takers: Taker<unknown>[] = [];
  /** Items a local taker is trying right now: never offered to a second one. */
  private readonly inFlight = new Set<string>();
  /** Items taken or lost to another consumer, by the mod revision they were gone at. */
  private readonly tried = new Map<string, bigint>();
  private refs = 0;
  private readonly stops: (() => void)[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private isReady = false;

  private constructor(
    private readonly client: Etcd3,
    private readonly id: string,
    private readonly mirror: PrefixMirror,
    private readonly order: ItemOrder,
  ) {
    this.stops.push(
      mirror.onChange(() => {
        this.pump();
      }),
      mirror.onFailure((err) => {
        this.fail(err);
      }),
    );
    mirror.ready().then(
      () => {
        this.isReady = true;
        this.pump();
      },
      (err: unknown) => {
        this.fail(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  /** The dispatcher of `prefix` on `client`, shared: call {@link release} once per acquire. */
  static acquire(client: Etcd3, prefix: string, order: ItemOrder): Dispatcher {
    const byId = clientState(client).slot(DISPATCHERS, () => new Map<string, Dispatcher>());
    const id = `${order}:${prefix}`;
    let d = byId.get(id);
    if (!d) {
      d = new Dispatcher(client, id, PrefixMirror.acquire(client, prefix), order);
      byId.set(id, d);
    }
    d.refs++;
    return d;
  }

  release(): void {
    if (--this.refs > 0) return;
    this.close();
  }

  /**
   * Waits for an item and takes it with `attempt`. Rejects with the signal's reason on abort;
   * an item taken in the very moment of the abort is given back with `undo` first.
   */
  take<R>(
    attempt: (item: KeyValue) => Promise<Attempt<R>>,
    undo: (taken: R) => Promise<void>,
    signals: readonly AbortSignal[],
  ): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const cleanup: (() => void)[] = [];
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        for (const c of cleanup) c();
        const at = this.takers.indexOf(taker);
        if (at >= 0) this.takers.splice(at, 1);
        fn();
      };
      const taker: Taker<R> = {
        attempt,
        undo,
        abandoned: undefined,
        busy: false,
        resolve: (v) => {
          settle(() => {
            resolve(v);
          });
        },
        reject: (e) => {
          settle(() => {
            reject(e);
          });
        },
      };
      for (const s of signals) {
        const onAbort = () => {
          const reason = s.reason as Error;
          if (taker.busy) taker.abandoned ??= reason;
          else taker.reject(reason);
        };
        if (s.aborted) {
          onAbort();
          return;
        }
        s.addEventListener('abort', onAbort, { once: true });
        cleanup.push(() => {
          s.removeEventListener('abort', onAbort);
        });
      }
      this.takers.push(taker);
      this.pump();
    });
  }

  /** Offers items to waiting takers, one item per taker, in queue order. */
  private pump(): void {
    if (!this.isReady) return;
    for (const [key, rev] of this.tried) {
      if (this.mirror.get(key)?.modRevision !== rev) this.tried.delete(key);
    }
    for (;;) {
      const taker = this.takers.find((t) => !t.busy && t.abandoned === undefined);
      if (!taker) return;
      const item = this.next();
      if (!item) return;
      this.offer(taker, item);
    }
  }

  private offer(taker: Taker<unknown>, item: KeyValue): void {
    taker.busy = true;
    this.inFlight.add(item.key);
    const finish = () => {
      taker.busy = false;
      this.inFlight.delete(item.key);
    };
    taker.attempt(item).then(
      async (outcome) => {
        finish();
        this.failures = 0;
        // Taken or lost, the item is gone at this revision: its delete event may not have
        // reached the mirror yet, and offering it again would only cost a failing transaction.
        this.tried.set(item.key, item.modRevision);
        if ('taken' in outcome) {
          if (taker.abandoned) {
            const reason = taker.abandoned;
            await taker.undo(outcome.taken).then(
              () => {
                taker.reject(reason);
              },
              (err: unknown) => {
                taker.reject(
                  new AggregateError([reason, err], `${reason.message}; giving the item back failed`),
                );
              },
            );
          } else taker.resolve(outcome.taken);
        } else if (taker.abandoned) taker.reject(taker.abandoned);
        this.pump();
      },
      (err: unknown) => {
        finish();
        const error = err instanceof Error ? err : new Error(String(err));
        if (taker.abandoned) taker.reject(taker.abandoned);
        else if (isTransientError(error)) this.retryLater();
        else taker.reject(error);
        this.pump();
      },
    );
  }

  /** etcd is briefly unreachable: offer again after a jittered, growing pause. */
  private retryLater(): void {
    if (this.retryTimer) return;
    this.isReady = false;
    const delay = Math.min(2000, 50 * 2 ** Math.min(this.failures++, 6)) * (0.5 + Math.random() / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.isReady = true;
      this.pump();
    }, delay);
  }

  /** The first item in queue order that no local taker is trying and that was not lost. */
  private next(): KeyValue | undefined {
    let best: KeyValue | undefined;
    for (const kv of this.mirror.entries()) {
      if (this.inFlight.has(kv.key) || this.tried.get(kv.key) === kv.modRevision) continue;
      // The mirror keeps creation order, which is Go's revision order for items (never re-put).
      if (this.order === 'revision') return kv;
      if (best === undefined || kv.key < best.key) best = kv;
    }
    return best;
  }

  private fail(err: Error): void {
    for (const t of [...this.takers]) {
      if (!t.busy) t.reject(err);
      else t.abandoned ??= err;
    }
    this.forget();
  }

  private close(): void {
    this.forget();
  }

  private forget(): void {
    for (const stop of this.stops.splice(0)) stop();
    clearTimeout(this.retryTimer);
    const byId = clientState(this.client).peek(DISPATCHERS);
    if (byId?.get(this.id) === this) {
      byId.delete(this.id);
      this.mirror.release();
    }
  }
}
