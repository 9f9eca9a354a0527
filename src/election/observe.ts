import type { Etcd3 } from 'etcd3';
import { Observable } from 'rxjs';
import { translateError } from '../etcd/etcd-errors.js';
import { PrefixMirror } from '../queue/mirror.js';
import { readPrefix } from '../etcd/read.js';
import type { KeyValue, WatchBatch, WatchEvent } from '../etcd/watch.js';
import { type LeaderInfo, toLeaderInfo } from './leader.js';

/**
 * The leader of the election under `prefix` as it changes: first the leader (or `null`) as of a
 * read made after subscribing, then every later state of the leader key in revision order — a new
 * leader, each proclamation, `null` while nobody leads — with no state reported twice (a state is
 * what etcd holds at one revision: a transaction that changes several keys is one change).
 *
 * Built on the client's shared mirror of the prefix (one watch per client and prefix), so any
 * number of observers and candidates cost one watch. The mirror hands over whole watch batches;
 * this observer replays them event by event on its own copy of the keys, so that several changes
 * landing in one batch (two proclamations, a resignation followed by the next leader's
 * proclamation) are each reported, not only the batch's end state. When the mirror had to re-read
 * the prefix (its watch could not resume because etcd compacted the revisions it missed), the
 * observer continues from that read: states in the compacted gap cannot be reported.
 */
export function observeLeader(client: Etcd3, prefix: string): Observable<LeaderInfo | null> {
  return new Observable<LeaderInfo | null>((subscriber) => {
    const mirror = PrefixMirror.acquire(client, prefix);
    const view = new LeaderView();
    let last: KeyValue | null | undefined; // undefined: nothing reported yet
    const report = () => {
      const now = view.leader() ?? null;
      if (last !== undefined && sameState(last, now)) return;
      last = now;
      subscriber.next(now && toLeaderInfo(now));
    };
    /** A change the mirror reported: a watch batch, or the state it re-read at a revision. */
    type Change = WatchBatch | { reread: KeyValue[]; revision: bigint };
    const onChange = (change: Change) => {
      if ('reread' in change) {
        // Adopt the mirror's re-read if it is newer than our state; an older one (the mirror's
        // first read, made before ours) changes nothing.
        if (change.revision > view.revision) {
          view.reset(change.reread, change.revision);
          report();
        }
        return;
      }
      // Events at or below our revision are already reflected. One revision can carry several
      // events (a transaction on several keys), which form one state: report once per revision.
      const base = view.revision;
      let at: bigint | undefined;
      for (const event of change.events) {
        const revision = event.kv.modRevision;
        if (revision <= base) continue;
        if (at !== undefined && revision !== at) report();
        at = revision;
        view.apply(event);
      }
      if (at !== undefined) report();
    };
    // Changes the mirror applies while our initial read is in flight wait here, then are
    // replayed after it (events at or below the read's revision are already in it).
    let pending: Change[] | undefined = [];
    const offChange = mirror.onChange((batch) => {
      // Watch batches are never empty: an empty one follows a re-read of the prefix (the first
      // read, or one after compaction left the watch no way to resume). The mirror's keys are
      // that read's state only now, so copy them before later batches are applied.
      const change: Change =
        batch.events.length === 0 ? { reread: [...mirror.entries()], revision: batch.revision } : batch;
      if (pending) pending.push(change);
      else onChange(change);
    });
    const offFailure = mirror.onFailure((err) => {
      subscriber.error(err);
    });
    const start = async () => {
      await mirror.ready();
      // Our own read, not the mirror's current state: the mirror may lag etcd by a watch event,
      // and the first value must be as of a read made after subscribing (linearizable).
      const read = await readPrefix(client, prefix);
      if (subscriber.closed) return;
      view.reset(read.kvs, read.revision);
      report();
      const buffered = pending ?? [];
      pending = undefined;
      for (const change of buffered) onChange(change);
    };
    start().catch((err: unknown) => {
      subscriber.error(translateError(err, client, prefix));
    });
    return () => {
      offChange();
      offFailure();
      mirror.release();
    };
  });
}

/** Same leader in the same state: same key, same term, same proclamation. */
function sameState(a: KeyValue | null, b: KeyValue | null): boolean {
  if (a === null || b === null) return a === b;
  return a.key === b.key && a.createRevision === b.createRevision && a.modRevision === b.modRevision;
}

/**
 * An observer's own copy of the keys under the prefix, in creation order (a range sorted by create
 * revision, then puts of new keys appended: a new key is always the youngest), so the leader is
 * the first entry after every single event.
 */
export class LeaderView {
  /** Every event up to this revision is reflected. */
  revision = 0n;
  private readonly keys = new Map<string, KeyValue>();

  /** Replaces the state with `kvs` (oldest first) as of `revision`. */
  reset(kvs: Iterable<KeyValue>, revision: bigint): void {
    this.keys.clear();
    for (const kv of kvs) this.keys.set(kv.key, kv);
    this.revision = revision;
  }

  /** Applies one event (the caller skips those already reflected). */
  apply({ type, kv }: WatchEvent): void {
    if (kv.modRevision > this.revision) this.revision = kv.modRevision;
    if (type === 'delete') {
      this.keys.delete(kv.key);
      return;
    }
    // A put to an existing key keeps its place (Map.set on a present key); a key deleted and
    // created again in between is a new, youngest key, so it moves to the end.
    const had = this.keys.get(kv.key);
    if (had && had.createRevision !== kv.createRevision) this.keys.delete(kv.key);
    this.keys.set(kv.key, kv);
  }

  /** The oldest key: the leader. */
  leader(): KeyValue | undefined {
    for (const kv of this.keys.values()) return kv;
    return undefined;
  }
}
