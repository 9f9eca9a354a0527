import type { ComparatorBuilder } from 'etcd3';
import type { PrefixMirror } from './mirror.js';
import { retryIdempotent } from '../etcd/retry.js';
import { watch, WatchCompactedError } from '../etcd/watch.js';
import { type HoldTrace, holdLost, holdReleased } from './trace.js';
import { keyGone, type Ticket } from './queue.js';
import { deleteIfCreated } from './guarded.js';
import type { Session } from '../session/session.js';

/**
 * A held place at the front of a queue: a locked Mutex, a read or write lock, a semaphore permit,
 * an election's leadership. Safe by default:
 * - {@link fencingToken} is the own key's create revision, strictly increasing across successive
 *   holders: give it to downstream systems so they can reject a stale holder's writes;
 * - {@link txn} starts an etcd transaction that commits only while this hold is still valid;
 * - {@link signal} aborts when the hold is lost: the session ended (reason: the session's error)
 *   or the key was deleted by someone else ({@link HoldLostError}).
 *
 * A lease-based hold alone is not safe against process pauses: a holder frozen longer than its
 * TTL (GC, SIGSTOP, a VM migration) wakes up still believing it holds. Guard writes with `txn()`
 * or the fencing token; the signal only tells you as soon as this process can know.
 */
/** How long an uncontended hold goes without a watch of its own key: see Hold.watchOwnKey. */
const OWN_KEY_WATCH_DELAY_MS = 250;

export class Hold implements AsyncDisposable {
  /** The own key in etcd. */
  readonly key: string;
  /** The own key's create revision: the fencing token of this hold. */
  readonly fencingToken: bigint;
  /** Aborts when the hold is lost; stays unaborted after a normal {@link release}. */
  readonly signal: AbortSignal;
  /** The session the hold lives on. */
  readonly session: Session;

  private readonly abort = new AbortController();
  /** The wait's mirror, if the hold came from one (a reference the hold gives back). */
  private readonly mirror: PrefixMirror | undefined;
  private detach: (() => void)[] = [];
  private releasing: Promise<void> | undefined;
  private releaseAsked = false;
  private finished = false;
  private readonly onEnd: (() => void) | undefined;
  private readonly trace: HoldTrace | undefined;

  /**
   * @internal Built by the queue in the instant a wait succeeds, from the ticket it hands over.
   * From then on the hold watches its own key: through the wait's mirror if there was one, else
   * (the enqueue transaction decided) by a watch of the key itself, see {@link watchOwnKey}.
   */
  constructor(session: Session, ticket: Ticket, onEnd?: () => void) {
    this.session = session;
    this.key = ticket.key;
    this.fencingToken = ticket.kv.createRevision;
    this.signal = this.abort.signal;
    this.onEnd = onEnd;
    this.trace = ticket.trace;
    this.mirror = ticket.mirror;
    if (!session.isActive) {
      this.lose(session.signal.reason);
      return;
    }
    const onSessionEnd = () => {
      this.lose(session.signal.reason);
    };
    session.signal.addEventListener('abort', onSessionEnd, { once: true });
    this.detach.push(() => {
      session.signal.removeEventListener('abort', onSessionEnd);
    });
    const mirror = ticket.mirror;
    if (!mirror) {
      this.watchOwnKey(ticket.revision + 1n);
      return;
    }
    this.detach.push(
      mirror.onDeleted(this.key, (createRevision) => {
        if (createRevision === this.fencingToken) this.gone();
      }),
    );
    this.detach.push(
      mirror.onFailure((err) => {
        this.lose(err);
      }),
    );
    if (mirror.get(this.key)?.createRevision !== this.fencingToken) this.gone();
  }

  /**
   * A hold the enqueue transaction decided (nobody ahead) watches its own key only once it has
   * been held for {@link OWN_KEY_WATCH_DELAY_MS}: a short critical section costs its two round
   * trips and no watch at all. The watch starts at the revision after the one at which the key
   * was known to be ours, so a deletion in between is reported all the same, just later. The
   * session's end reaches the hold at once, whatever the watch.
   */
  private watchOwnKey(from: bigint): void {
    const timer = setTimeout(() => {
      if (!this.isHeld) return;
      const sub = watch(
        this.session.client,
        { key: this.key },
        { startRevision: from, only: 'delete' },
      ).subscribe({
        next: (batch) => {
          if (batch.events.length > 0) this.gone();
        },
        error: (err: unknown) => {
          if (err instanceof WatchCompactedError) void this.recheck();
          else this.lose(err);
        },
      });
      this.detach.push(() => {
        sub.unsubscribe();
      });
    }, OWN_KEY_WATCH_DELAY_MS);
    timer.unref();
    this.detach.push(() => {
      clearTimeout(timer);
    });
  }

  /** After compaction cut the watch's history: is the own key still there? Then watch from now. */
  private async recheck(): Promise<void> {
    try {
      const res = await retryIdempotent(() => this.session.client.kv.range({ key: Buffer.from(this.key) }));
      const kv = res.kvs[0];
      if (!kv || BigInt(kv.create_revision) !== this.fencingToken) this.gone();
      else if (this.isHeld) this.watchOwnKey(BigInt(res.header.revision) + 1n);
    } catch (err) {
      this.lose(err);
    }
  }

  /** The own key vanished: tell "the lease ended" from "someone deleted it" before saying which. */
  private gone(): void {
    if (!this.isHeld) return;
    void keyGone(this.session, this.key, 'while held').then((reason) => {
      this.lose(reason);
    });
  }

  private lose(reason: unknown): void {
    if (this.releasing || this.finished) return;
    holdLost(this.trace, this.session, this.key, this.fencingToken, reason);
    this.abort.abort(reason);
    this.stopWatching();
    this.finish();
  }

  /** True until the hold is released or lost. */
  get isHeld(): boolean {
    return !this.signal.aborted && this.releasing === undefined && !this.finished;
  }

  /** True while a {@link release} is in flight (it may still fail and leave the hold held). */
  get isReleasing(): boolean {
    return this.releasing !== undefined && !this.finished;
  }

  /**
   * True once {@link release} was called, even if it failed: the key may or may not be gone (a
   * delete whose reply was lost), so such a hold is never handed to a new caller as held; the
   * next call finishes the release first.
   * @internal
   */
  get releaseRequested(): boolean {
    return this.releaseAsked && !this.finished;
  }

  /**
   * An etcd3 transaction that commits only while this hold is valid: its first comparison is
   * "the own key still has this create revision". Add comparisons with `.and()`, then
   * `.then(...)`, and always finish with `.commit()` (awaiting the builder itself never settles).
   *
   * @example
   * ```ts
   * const res = await hold.txn().then(client.put('balance').value('42')).commit();
   * if (!res.succeeded) throw new Error('lost the lock before the write');
   * ```
   */
  txn(): ComparatorBuilder {
    return this.session.client.if(this.key, 'Create', '==', this.fencingToken.toString());
  }

  /**
   * Gives the hold back: deletes the own key only if it is still this hold's (a late or retried
   * release never deletes a newer hold). Idempotent.
   */
  release(): Promise<void> {
    if (this.finished) return Promise.resolve();
    this.releaseAsked = true;
    // A failed release is not cached: the hold stays registered (mutex.unlock() finds it) and
    // keeps its watch, and the next call tries again. Otherwise one etcd hiccup would leave the
    // key held until the session ends.
    this.releasing ??= this.deleteKey().then(
      () => {
        holdReleased(this.trace, this.session, this.key, this.fencingToken);
        this.stopWatching();
        this.finish();
      },
      (err: unknown) => {
        this.releasing = undefined;
        throw err;
      },
    );
    return this.releasing;
  }

  private async deleteKey(): Promise<void> {
    try {
      await deleteIfCreated(this.session.client, this.key, this.fencingToken);
    } catch (err) {
      // A session that ended took the key with it (closed) or will (orphaned, lost).
      if (this.session.isActive) throw err;
    }
  }

  /** `await using` support: {@link release}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  /** Gives back the mirror reference and tells the owner, once. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.mirror?.release();
    this.onEnd?.();
  }

  private stopWatching(): void {
    for (const fn of this.detach) fn();
    this.detach = [];
  }
}
