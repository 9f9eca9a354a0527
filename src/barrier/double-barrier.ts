import type { ITxnRequest, ITxnResponse } from 'etcd3';
import { translateError } from '../etcd/etcd-errors.js';
import { prefixOf, uniqueKey, validateName } from '../queue/keys.js';
import { validateSignal } from '../etcd/validate.js';
import { validateSession } from '../session/validate.js';
import { PrefixMirror } from '../queue/mirror.js';
import { untilAborted } from '../etcd/abort.js';
import { keyGone } from '../queue/queue.js';
import { addSuppressed, createOrGet, deleteIfCreated, markLeftBehind } from '../queue/guarded.js';
import { retryIdempotent } from '../etcd/retry.js';
import type { KeyValue } from '../etcd/watch.js';
import { InvalidArgumentError, TooManyParticipantsError } from '../errors.js';
import type { Session } from '../session/session.js';
import { watchMirror } from './watch-mirror.js';

/** Options of a waiting call. */
export interface DoubleBarrierWaitOptions {
  /** Abandons the wait: the promise rejects with the signal's reason (see each method for what stays). */
  signal?: AbortSignal;
}

/**
 * A double barrier with the layout of Go's `recipes.DoubleBarrier`, so Go processes join the same
 * rounds: each participant is a key `key/waiters/<unix nanos>` on its session's lease, and
 * `key/ready` (no lease) is put when `count` participants are in.
 *
 * - {@link enter} blocks until `count` participants have entered; more than `count` at once get
 *   {@link TooManyParticipantsError} and leave no key.
 * - {@link leave} blocks until every participant of the round has left.
 *
 * When a participant's session dies its key vanishes with its lease, and from then on it does not
 * count: a dead participant is not "entered" (the round waits for a live one in its place) and it
 * has "left" (nobody waits for it). So nobody is blocked for longer than a dead participant's TTL.
 * Go relies on the last participant in to put `key/ready`, and everyone hangs if that one dies
 * between creating its key and putting `ready`; here every waiter watches the participants and
 * the first to see `count` of them puts `ready` itself.
 *
 * One object is one participant; use one object per participant (several may share a session).
 * Start a new round on the same key only once the previous one has left.
 *
 * @example
 * ```ts
 * const barrier = new DoubleBarrier(session, 'jobs/batch-7', 5);
 * await barrier.enter({ signal });   // all 5 workers start together
 * await work();
 * await barrier.leave({ signal });   // and finish together
 * ```
 */
export class DoubleBarrier {
  /** The barrier's key; participants live under `key/waiters/`. */
  readonly key: string;
  /** How many participants a round needs. */
  readonly count: number;
  private readonly waitersPrefix: string;
  private readonly readyKey: string;
  /** Own participant key, from a completed enter() until leave() has deleted it. */
  private own: KeyValue | undefined;
  private busy = false;

  constructor(
    readonly session: Session,
    key: string,
    count: number,
  ) {
    validateSession(session, 'DoubleBarrier');
    validateName(key, 'DoubleBarrier');
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1) {
      throw new InvalidArgumentError(
        `DoubleBarrier "${key}" count must be a whole number ≥ 1, got ${String(count)}`,
      );
    }
    this.key = key;
    this.count = count;
    this.waitersPrefix = `${key}/waiters/`;
    this.readyKey = `${key}/ready`;
  }

  /** This participant's key while it is inside the barrier (after enter(), before leave()). */
  get participantKey(): string | undefined {
    return this.own?.key;
  }

  /**
   * Registers this participant and waits until `count` participants have entered. Rejects with
   * {@link TooManyParticipantsError} if `count` participants are already in (nothing is left
   * behind), with the signal's reason if aborted, and with the session's error if it ends first
   * (the own key is removed in both cases).
   */
  async enter(options: DoubleBarrierWaitOptions = {}): Promise<void> {
    const { signal } = options;
    validateSignal(signal, `DoubleBarrier "${this.key}".enter`);
    this.begin(this.own === undefined, 'enter() was already called; call leave() before entering again');
    const session = this.session;
    const mirror = PrefixMirror.acquire(session.client, prefixOf(this.key));
    let own: KeyValue | undefined;
    try {
      signal?.throwIfAborted();
      session.throwIfEnded();
      await untilAborted(mirror.ready(), signal, session.signal);
      // As in Go: check before writing anything, then again once our key is in.
      if (this.participants(mirror).length >= this.count) throw this.tooMany();
      // A participant that waits anyway rides out an etcd outage, as every queue wait does.
      own = await this.register(signal ? [session.signal, signal] : [session.signal]);
      const mine = own;
      await untilAborted(mirror.caughtUp(mine.createRevision), signal, session.signal);
      const ahead = this.participants(mirror).filter((kv) => kv.createRevision < mine.createRevision);
      if (ahead.length >= this.count) throw this.tooMany();
      // Keys ahead of ours can only go away, so from here we stay among the first `count`.
      await this.untilEveryoneIn(mirror, mine, signal);
      this.own = mine;
    } catch (err) {
      if (own && session.isActive) {
        // A failed cleanup is a leaked key until the session ends: say so on the error.
        await deleteIfCreated(session.client, own.key, own.createRevision).catch((cleanup: unknown) => {
          addSuppressed(err, cleanup);
          markLeftBehind(err, own!.key, own!.createRevision);
        });
      }
      throw err;
    } finally {
      this.busy = false;
      mirror.release();
    }
  }

  /**
   * Leaves the barrier and waits until every participant that was inside when this call began has
   * left (or died). Follows Go's protocol: the participant with the oldest key leaves last and
   * deletes `key/ready` with its key; the others delete their key at once and wait for it.
   * Aborting stops the wait; a participant that already deleted its key has left (enter() may be
   * called again), the oldest one has not (call leave() again). Rejects with the session's error if
   * it ends while waiting.
   */
  async leave(options: DoubleBarrierWaitOptions = {}): Promise<void> {
    const { signal } = options;
    validateSignal(signal, `DoubleBarrier "${this.key}".leave`);
    this.begin(this.own !== undefined, 'leave() was called before enter() completed; call enter() first');
    const own = this.own!;
    const session = this.session;
    const client = session.client;
    const mirror = PrefixMirror.acquire(client, prefixOf(this.key));
    try {
      signal?.throwIfAborted();
      session.throwIfEnded();
      await untilAborted(mirror.ready(), signal, session.signal);
      if (mirror.get(own.key)?.createRevision !== own.createRevision) {
        this.own = undefined;
        throw await keyGone(session, own.key, 'before leave()');
      }
      const startRevision = mirror.revision;
      const participants = this.participants(mirror);
      const oldest = participants[0]!.key === own.key;
      const others = participants.filter((kv) => kv.key !== own.key);
      if (!oldest) {
        await deleteIfCreated(client, own.key, own.createRevision);
        this.own = undefined;
      }
      await this.untilGone(mirror, others, oldest ? own : undefined, signal);
      if (oldest) {
        // Go's last leaver deletes `ready`, then its key; one transaction does both here.
        const k = Buffer.from(own.key);
        const res = await this.txn(own.key, {
          compare: [
            { key: k, target: 'Create', result: 'Equal', create_revision: own.createRevision.toString() },
          ],
          success: [
            { request_delete_range: { key: Buffer.from(this.readyKey) } },
            { request_delete_range: { key: k } },
          ],
          failure: [],
        });
        this.own = undefined;
        // Our key is already gone (a retry after a lost reply, or deleted by hand): everyone has
        // left all the same. Only a session that ended meanwhile is worth reporting.
        if (!res.succeeded && !(await session.confirmLease())) throw session.signal.reason as Error;
      } else {
        await this.removeStaleReady(mirror, startRevision);
      }
    } catch (err) {
      // Our key is gone (lease ended, or deleted by someone): we are out of the barrier whatever
      // happened. An aborted oldest participant keeps its key and may call leave() again.
      if (mirror.get(own.key)?.createRevision !== own.createRevision) this.own = undefined;
      throw err;
    } finally {
      this.busy = false;
      mirror.release();
    }
  }

  private begin(allowed: boolean, misuse: string): void {
    if (this.busy) {
      throw new InvalidArgumentError(
        `DoubleBarrier "${this.key}": another enter() or leave() of this participant is in progress; use one object per participant`,
      );
    }
    if (!allowed) throw new InvalidArgumentError(`DoubleBarrier "${this.key}": ${misuse}`);
    this.busy = true;
  }

  /** Live participant keys, oldest first. */
  private participants(mirror: PrefixMirror): KeyValue[] {
    return [...mirror.entries()].filter((kv) => kv.key.startsWith(this.waitersPrefix));
  }

  /**
   * Creates own key `key/waiters/<nanos>` on the session's lease (a fresh name if one collides
   * with another process's). A key found on our own lease is ours: a try whose reply was lost
   * made it, and taking a fresh name instead would count a phantom participant.
   */
  private async register(patience: readonly AbortSignal[]): Promise<KeyValue> {
    for (;;) {
      const { kv, created } = await createOrGet(this.session, uniqueKey(this.waitersPrefix), '', {
        patience,
      });
      if (created || kv.leaseId === this.session.leaseId) return kv;
    }
  }

  /**
   * Resolves once a `ready` put at or after our key's creation is seen (some participant counted
   * `count`), or once we see `count` live participants ourselves: then we put `ready` for those
   * who have not seen it (Go participants wait for that put and nothing else).
   */
  private untilEveryoneIn(
    mirror: PrefixMirror,
    own: KeyValue,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const isOurReady = (kv: KeyValue | undefined) =>
      kv !== undefined && kv.key === this.readyKey && kv.modRevision >= own.createRevision;
    let announcing = false;
    return watchMirror(
      { mirror, session: this.session, own, signal, when: 'while entering' },
      (finish, batch) => {
        const readySeen =
          batch?.events.some((e) => e.type === 'put' && isOurReady(e.kv)) ||
          isOurReady(mirror.get(this.readyKey));
        if (readySeen) {
          finish();
          return 'stop';
        }
        if (announcing) return 'wait';
        // A vanished own key is reported by watchMirror; until then we count ourselves.
        const counted = mirror.get(own.key)?.createRevision === own.createRevision;
        const participants = this.participants(mirror);
        if (!counted || participants.length < this.count) return 'wait';
        announcing = true;
        // Finish only once the mirror shows `ready`: leave() tells this round's `ready` from a
        // stale one by the mirror's revision, so it must not start before the put is applied.
        this.announceReady(own, participants.slice(0, this.count))
          .then(async (revision) => {
            // One of those we counted is gone (our view was stale, say after a pause): the
            // round needs another participant, whose arrival checks again.
            if (revision === undefined) {
              announcing = false;
              return;
            }
            await mirror.caughtUp(revision);
            finish();
          })
          // Both the announcement and the catch-up (the mirror failing, the client closing)
          // end the wait with their error, never as an unhandled rejection.
          .catch((err: unknown) => {
            finish(err as Error);
          });
        return 'wait';
      },
    );
  }

  /**
   * Puts `key/ready` unless it was put after our key was created, and only while every
   * participant we counted still exists (their create revisions unchanged): a participant whose
   * view is stale — it was paused while one of them left or expired — cannot release the round.
   * The guard also makes concurrent announcements cost one write: the first commits, the rest
   * compare false and read the `ready` that counts. Undefined: a counted participant is gone.
   */
  private async announceReady(own: KeyValue, counted: KeyValue[]): Promise<bigint | undefined> {
    const ready = Buffer.from(this.readyKey);
    const res = await this.txn(this.readyKey, {
      compare: [
        { key: ready, target: 'Mod', result: 'Less', mod_revision: own.createRevision.toString() },
        ...counted.map((kv) => ({
          key: Buffer.from(kv.key),
          target: 'Create' as const,
          result: 'Equal' as const,
          create_revision: kv.createRevision.toString(),
        })),
      ],
      success: [{ request_put: { key: ready, value: Buffer.alloc(0) } }],
      failure: [{ request_range: { key: ready } }],
    });
    if (res.succeeded) return BigInt(res.header.revision);
    // Someone else announced this round: the revision of its `ready` put counts.
    const existing = res.responses[0]?.response_range.kvs[0];
    if (existing && BigInt(existing.mod_revision) >= own.createRevision) return BigInt(existing.mod_revision);
    return undefined;
  }

  /** Resolves once none of `others` exists any more (each left or its lease ended). */
  private untilGone(
    mirror: PrefixMirror,
    others: KeyValue[],
    own: KeyValue | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const pending = new Map(others.map((kv) => [kv.key, kv.createRevision]));
    return watchMirror({ mirror, session: this.session, own, signal, when: 'while leaving' }, (finish) => {
      for (const [key, rev] of pending) {
        if (mirror.get(key)?.createRevision !== rev) pending.delete(key);
      }
      if (pending.size > 0) return 'wait';
      finish();
      return 'stop';
    });
  }

  /**
   * If the oldest participant died instead of leaving, nobody deleted `key/ready`: remove it, but
   * only if it is still this round's (its mod revision is unchanged and older than our leave).
   */
  private async removeStaleReady(mirror: PrefixMirror, startRevision: bigint): Promise<void> {
    const ready = mirror.get(this.readyKey);
    if (!ready || ready.modRevision > startRevision) return;
    const k = Buffer.from(this.readyKey);
    await this.txn(this.readyKey, {
      compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: ready.modRevision.toString() }],
      success: [{ request_delete_range: { key: k } }],
      failure: [],
    }).catch(() => undefined); // only tidying: a leftover `ready` never releases a later round
  }

  /** A guarded transaction; retrying is safe because each one's guard makes it idempotent. */
  private async txn(key: string, request: ITxnRequest): Promise<ITxnResponse> {
    const client = this.session.client;
    try {
      return await retryIdempotent(() => client.kv.txn(request));
    } catch (err) {
      throw translateError(err, client, key);
    }
  }

  private tooMany(): TooManyParticipantsError {
    return new TooManyParticipantsError(
      `DoubleBarrier "${this.key}" already has its ${this.count} participants; ` +
        `wait until they have left (leave()) before entering, or create it with a larger count`,
    );
  }
}
