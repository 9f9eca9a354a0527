import type { ComparatorBuilder } from 'etcd3';
import { PrefixMirror } from './core/mirror.js';
import { type HoldTrace, holdLost, holdReleased } from './diagnostics/trace.js';
import { keyGone, type Ticket } from './core/queue.js';
import { deleteIfCreated } from './core/txn.js';
import type { Session } from './session/session.js';

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
  private readonly mirror: PrefixMirror;
  private detach: (() => void)[] = [];
  private releasing: Promise<void> | undefined;
  private finished = false;
  private readonly onEnd: (() => void) | undefined;
  private readonly trace: HoldTrace | undefined;

  /**
   * @internal Built by the queue in the instant a wait succeeds, from the ticket it hands over.
   * From then on the hold watches its own key: through the wait's mirror if there was one, else
   * through the prefix's mirror, which it checks once it has caught up with the ticket's revision
   * (the key existed then; if the mirror no longer shows it, it was deleted in between).
   */
  constructor(session: Session, ticket: Ticket, onEnd?: () => void) {
    this.session = session;
    this.key = ticket.key;
    this.fencingToken = ticket.kv.createRevision;
    this.signal = this.abort.signal;
    this.onEnd = onEnd;
    this.trace = ticket.trace;
    this.mirror = ticket.mirror ?? PrefixMirror.acquire(session.client, ticket.prefix);
    const mirror = this.mirror;
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
    const gone = () => {
      // Tell "the lease ended" from "someone deleted the key" before saying which.
      void keyGone(session, this.key, 'while held').then((reason) => {
        this.lose(reason);
      });
    };
    this.detach.push(
      mirror.onDeleted(this.key, (createRevision) => {
        if (createRevision === this.fencingToken) gone();
      }),
    );
    this.detach.push(
      mirror.onFailure((err) => {
        this.lose(err);
      }),
    );
    const present = () => mirror.get(this.key)?.createRevision === this.fencingToken;
    if (ticket.mirror) {
      if (!present()) gone();
    } else {
      mirror.caughtUp(ticket.revision).then(
        () => {
          if (!present()) gone();
        },
        () => undefined, // reported through onFailure
      );
    }
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
    this.mirror.release();
    this.onEnd?.();
  }

  private stopWatching(): void {
    for (const fn of this.detach) fn();
    this.detach = [];
  }
}
