import { validateName, prefixOf, sessionKey } from '../core/keys.js';
import { untilAborted } from '../core/abort.js';
import { enqueue, tryEnqueue } from '../core/queue.js';
import { readPrefix } from '../core/read.js';
import { validateSession } from '../core/validate.js';
import { LockedError, InvalidArgumentError } from '../errors.js';
import { Hold } from '../hold.js';
import type { Session } from '../session/session.js';
import { sessionHolds } from './session-holds.js';
import { type RunExclusiveOptions, runExclusive } from './run-exclusive.js';
import type { HeldWork } from '../election/lead.js';

/** Options of {@link Mutex}. */
export interface MutexOptions {
  /** Stored in the own key, for humans and tools (`etcdctl get --prefix`): who holds or waits. */
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
   * key is removed), with `SessionExpiredError`/`SessionClosedError` if the session ends first.
   */
  lock(options: LockOptions = {}): Promise<Hold> {
    const holds = sessionHolds(this.session);
    const existing = holds.get(this.key);
    if (existing) return untilAborted(existing, options.signal);
    const pending = enqueue({
      session: this.session,
      prefix: this.prefix,
      key: this.key,
      value: this.value,
      isReady: (ahead) => ahead.length === 0,
      signal: options.signal,
    }).then((ticket) => new Hold(this.session, ticket, () => holds.delete(this.key, pending)));
    holds.set(this.key, pending);
    pending.catch(() => holds.delete(this.key, pending));
    return pending;
  }

  /**
   * Takes the mutex if nobody holds it, else rejects with {@link LockedError} naming the holder.
   * Never deletes a key it did not create (a wait of this session in progress survives).
   */
  async tryLock(): Promise<Hold> {
    const holds = sessionHolds(this.session);
    const existing = holds.get(this.key);
    if (existing) {
      // A hold this session already has is returned; a wait still in progress is not joined.
      const settled = await Promise.race([existing, Promise.resolve(undefined)]).catch(() => undefined);
      if (settled) return settled;
    }
    const outcome = await tryEnqueue({
      session: this.session,
      prefix: this.prefix,
      key: this.key,
      value: this.value,
      isReady: (ahead) => ahead.length === 0,
    });
    if ('ahead' in outcome) {
      const holder = outcome.ahead[0];
      if (!holder) throw new Error('tryEnqueue reported a blocked mutex with nobody ahead');
      throw new LockedError('Mutex', this.name, {
        key: holder.key,
        value: holder.value.toString(),
        createRevision: holder.createRevision,
        leaseId: holder.leaseId,
      });
    }
    const hold = new Hold(this.session, outcome, () => holds.delete(this.key, pending));
    const pending = Promise.resolve(hold);
    holds.set(this.key, pending);
    return hold;
  }

  /** Releases this session's hold on the mutex, if it has one (guarded: never deletes a newer key). */
  async unlock(): Promise<void> {
    const existing = sessionHolds(this.session).get(this.key);
    if (!existing) return;
    const hold = await existing.catch(() => undefined);
    await hold?.release();
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
