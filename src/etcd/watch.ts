import type { Etcd3 } from 'etcd3';
import { Observable } from 'rxjs';
import { type WatchBatch, prefixRangeEnd } from './kv.js';
import { WatchHub, type WatchEntry } from './watch-hub.js';

export { type KeyValue, type WatchEvent, type WatchBatch, WatchCompactedError, toKeyValue } from './kv.js';

/** What to watch: one key, or every key under a prefix. */
export type WatchTarget = { key: string } | { prefix: string };

export interface WatchOptions {
  /** First revision to report (inclusive). Omit to watch from now on: the watch is then synced at once. */
  startRevision?: bigint;
  /** Report only these event types. */
  only?: 'put' | 'delete';
  /**
   * Called once, with etcd's header revision, when the watch is first established (watching from
   * now on, every later event is above it). Not called again when the watch resumes.
   */
  onCreated?: (revision: bigint) => void;
}

/**
 * An etcd watch as an Observable of event batches. Subscribing creates the watcher, unsubscribing
 * cancels it. All watches of a client share one gRPC stream; when it breaks, each watch resumes
 * from the revision after the last event it delivered, so no event is lost or repeated.
 * A compacted start revision errors with {@link WatchCompactedError}.
 */
export function watch(
  client: Etcd3,
  target: WatchTarget,
  options: WatchOptions = {},
): Observable<WatchBatch> {
  return new Observable<WatchBatch>((subscriber) => {
    const key = 'key' in target ? Buffer.from(target.key) : Buffer.from(target.prefix);
    const entry: WatchEntry = {
      request: {
        key,
        ...('prefix' in target ? { range_end: prefixRangeEnd(target.prefix) } : {}),
        ...(options.only ? { filters: [options.only === 'put' ? 'Nodelete' : 'Noput'] } : {}),
        progress_notify: false,
      },
      nextRevision: options.startRevision,
      id: undefined,
      onBatch: (batch) => {
        subscriber.next(batch);
      },
      onError: (err) => {
        subscriber.error(err);
      },
      onCreated: options.onCreated,
      tokenRenewals: 0,
    };
    const hub = WatchHub.of(client);
    hub.add(entry);
    return () => {
      hub.remove(entry);
    };
  });
}
