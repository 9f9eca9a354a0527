import { validateName, prefixOf, sessionKey } from '../queue/keys.js';
import { untilAborted } from '../etcd/abort.js';
import { patiently } from '../etcd/retry.js';
import {
  type Blocked,
  enqueue,
  type EnqueueRequest,
  type ReadyPredicate,
  type Ticket,
  tryEnqueue,
} from '../queue/queue.js';
import { readPrefix } from '../etcd/read.js';
import { SharedWait } from '../queue/shared-wait.js';
import { validateSignal } from '../etcd/validate.js';
import { validateSession } from '../session/validate.js';
import type { KeyValue } from '../etcd/kv.js';
import { LockedError, InvalidArgumentError } from '../errors.js';
import { Hold } from '../queue/hold.js';
import type { Session } from '../session/session.js';
import { sessionHolds } from './session-holds.js';
import { type RunExclusiveOptions, runExclusive } from './run-exclusive.js';
import type { HeldWork } from '../queue/hold-forever.js';

/** Options of {@link Mutex}. */
export interface MutexOptions {
  /**
   * Stored in the own key, for humans and tools (`etcdctl get --prefix`): who holds or waits.
   * @default ''
   */
  value?: string;
}

/** Options of a waiting call. */
export interface LockOptions {
  /** Abandons the wait: the promise rejects with the signal's reason and no key is left behind. */
  signal?: AbortSignal;
}

/**
 * A distributed mutex with Go's `concurrency.Mutex` semantics and key layout: contenders are the
 * keys `name/<lease id in hex>` on their sessions' leases, and the holder is the oldest. Waiters
 * are served in arrival (create-revision) order and woken by watch events, never by polling.
 * `etcdctl lock name` and Go services using `concurrency.NewMutex(s, name)` exclude us and we them.
 *
 * Exclusion is between sessions, as in Go: a session has one key per name, so a second `lock()`
 * on the same session and name (from any Mutex object) joins the first one's hold or wait.
 *
 * @example
 * ```ts
 * const mutex = new Mutex(session, 'locks/job5', { value: 'worker-2' });
 * await using hold = await mutex.lock({ signal: AbortSignal.timeout(10_000) });
 * await hold.txn().then(client.put('job5/state').value('done')).commit();
 * ```
 */
export class Mutex {
  /** The name given at construction. */
  readonly name: string;
  /** The prefix the contenders' keys live under: `name + '/'`. */
  readonly prefix: string;
  /** This session's key: `prefix + hex(leaseId)`. */
  readonly key: string;
  private readonly value: string;

  constructor(
    readonly session: Session,
    name: string,
    options: MutexOptions = {},
  ) {
    validateSession(session, 'Mutex');
    validateName(name, 'Mutex');
    if (options.value !== undefined && typeof options.value !== 'string') {
      throw new InvalidArgumentError('Mutex value must be a string');
    }
    this.name = name;
    this.prefix = prefixOf(name);
    this.key = sessionKey(this.prefix, session.leaseId);
    this.value = options.value ?? '';
  }

  /**
   * Waits until this session holds the mutex. Rejects with the signal's reason if aborted (the
   * key is removed once no other call of this session waits for it), with
   * `SessionExpiredError`/`SessionClosedError` if the session ends first, with an `AbortError` if
   * {@link unlock} withdraws the wait.
   *
   * A second call of the same session joins the first (one key per session and name), each under
   * its own signal: one caller's abort or timeout never ends another's wait. A call made while a
   * release of this session's hold is in flight waits for the release, then queues anew.
   */
  async lock(options: LockOptions = {}): Promise<Hold> {
    const { signal } = options;
    validateSignal(signal, `Mutex "${this.name}".lock`);
    const holds = sessionHolds(this.session);
    for (;;) {
      signal?.throwIfAborted();
      this.session.throwIfEnded();
      const slot = holds.get(this.key);
      if (slot instanceof Hold) {
        if (slot.isHeld && !slot.releaseRequested) return slot;
        // A release in flight, or one that failed (its delete may have run): finish it first.
        if (slot.releaseRequested) await patiently(() => slot.release(), this.session.signal, signal);
        else holds.delete(this.key, slot);
      } else if (slot instanceof SharedWait) {
        if (!slot.withdrawn) return slot.join(signal);
        await untilAborted(slot.promise.catch(noop), signal);
      } else if (slot) {
        await untilAborted(slot.busy.catch(noop), signal);
      } else {
        this.startWait(holds);
      }
    }
  }

  private startWait(holds: ReturnType<typeof sessionHolds>): void {
    const wait = new SharedWait<Hold>(
      (withdraw) => enqueue({ ...this.request(), signal: withdraw }, (ticket) => this.hold(holds, ticket)),
      (late) => late.release().catch(noop),
    );
    holds.set(this.key, wait);
    wait.promise.then(
      (hold) => {
        // Withdrawn in the instant it was won, the wait's disposer is giving the hold back; it
        // stays registered until that release ends (its end unregisters it), so that a failed
        // release is finished by the next lock() or unlock() instead of leaking the key.
        if (holds.get(this.key) === wait) holds.set(this.key, hold);
      },
      () => {
        holds.delete(this.key, wait);
      },
    );
  }

  private hold(holds: ReturnType<typeof sessionHolds>, ticket: Ticket): Hold {
    let hold: Hold | undefined = undefined;
    hold = new Hold(this.session, ticket, () => {
      if (hold) holds.delete(this.key, hold);
    });
    return hold;
  }

  private request(): EnqueueRequest {
    return {
      session: this.session,
      prefix: this.prefix,
      key: this.key,
      value: this.value,
      isReady: nobodyAhead,
      exclusive: true,
      // Go's tryAcquire reads the owner in the same transaction: the oldest key decides.
      probe: { prefix: this.prefix, limit: 1 },
      origin: { primitive: 'mutex', name: this.name },
    };
  }

  /**
   * Takes the mutex if nobody holds it, else rejects with {@link LockedError} naming the holder.
   * One transaction, bounded by the client's deadline (no watch is waited for). A hold this
   * session already has is returned; while a `lock()` of this session waits, the holder ahead is
   * named and the wait is left alone.
   */
  async tryLock(): Promise<Hold> {
    const holds = sessionHolds(this.session);
    for (;;) {
      this.session.throwIfEnded();
      const slot = holds.get(this.key);
      if (slot instanceof Hold) {
        if (slot.isHeld && !slot.releaseRequested) return slot;
        if (slot.releaseRequested) await slot.release();
        else holds.delete(this.key, slot);
        continue;
      }
      if (slot instanceof SharedWait) {
        if (slot.withdrawn) {
          await slot.promise.catch(noop);
          continue;
        }
        return this.lockedBehind(slot);
      }
      if (slot) {
        await slot.busy.catch(noop);
        continue;
      }
      const attempt = tryEnqueue(this.request(), (ticket) => this.hold(holds, ticket));
      const busy = { busy: attempt };
      holds.set(this.key, busy);
      let outcome: Hold | Blocked;
      try {
        outcome = await attempt;
      } finally {
        holds.delete(this.key, busy);
      }
      if (!('ahead' in outcome)) {
        holds.set(this.key, outcome);
        return outcome;
      }
      throw this.locked(outcome.ahead[0]);
    }
  }

  /** tryLock() while this session's lock() waits: who is ahead, or the wait's hold if it is won. */
  private async lockedBehind(wait: SharedWait<Hold>): Promise<Hold> {
    const { kvs } = await readPrefix(this.session.client, this.prefix, { limit: 1 });
    const holder = kvs[0];
    // Nobody ahead of our waiting key: that wait is about to win; share its outcome.
    if (!holder || holder.key === this.key) return wait.join(AbortSignal.timeout(this.session.ttl * 1000));
    throw this.locked(holder);
  }

  private locked(holder: KeyValue | undefined): Error {
    if (!holder) return new Error(`Mutex "${this.name}": blocked with nobody ahead (a bug)`);
    return new LockedError('Mutex', this.name, {
      key: holder.key,
      value: holder.value.toString(),
      createRevision: holder.createRevision,
      leaseId: holder.leaseId,
    });
  }

  /**
   * Releases this session's hold on the mutex, if it has one (guarded: never deletes a newer
   * key). A `lock()` of this session still waiting is withdrawn at once (its callers reject with
   * an `AbortError`) and its key deleted before this resolves.
   */
  async unlock(): Promise<void> {
    const holds = sessionHolds(this.session);
    for (;;) {
      const slot = holds.get(this.key);
      if (!slot) return;
      if (slot instanceof Hold) {
        await slot.release();
        return;
      }
      if (slot instanceof SharedWait) {
        slot.withdraw(
          new DOMException(`The wait for Mutex "${this.name}" was withdrawn by unlock()`, 'AbortError'),
        );
        const won = await slot.promise.catch(noop);
        if (won) await won.release(); // won in the same instant: the disposer releases it too
        return;
      }
      await slot.busy.catch(noop);
    }
  }

  /** Asks etcd whether this session's key is the oldest under the prefix, i.e. holds the mutex. */
  async isOwner(): Promise<boolean> {
    const { kvs } = await readPrefix(this.session.client, this.prefix, { limit: 1, keysOnly: true });
    return kvs[0]?.key === this.key;
  }

  /**
   * Runs `fn` while holding the mutex and releases it afterwards, also when `fn` throws.
   * `fn` gets the hold's signal: stop the work when it aborts, the hold is lost.
   */
  async withLock<T>(
    fn: (signal: AbortSignal, hold: Hold) => Promise<T> | T,
    options: LockOptions = {},
  ): Promise<T> {
    const hold = await this.lock(options);
    try {
      return await fn(hold.signal, hold);
    } finally {
      await hold.release();
    }
  }

  /**
   * Exclusive singleton work that survives a lost session: locks, runs `fn(signal, hold)` while
   * holding, and when the hold or the session is lost aborts `fn`'s signal, waits for `fn` to
   * settle, and locks again — on a new session on the same client once this one has ended —
   * until `options.signal` aborts; then unlocks, closes the sessions it created and resolves.
   * Same rules as `election.lead()` (see {@link RunExclusiveOptions}).
   *
   * @example
   * ```ts
   * await new Mutex(session, 'locks/compactor').runExclusive(
   *   (signal, hold) => compactForever({ signal, fencingToken: hold.fencingToken }),
   *   { signal: shutdown.signal },
   * );
   * ```
   */
  runExclusive(fn: HeldWork, options: RunExclusiveOptions = {}): Promise<void> {
    return runExclusive(this, (session) => new Mutex(session, this.name, { value: this.value }), fn, options);
  }
}

const nobodyAhead: ReadyPredicate = (ahead) => ahead.length === 0;

function noop(): void {
  /* nothing */
}
