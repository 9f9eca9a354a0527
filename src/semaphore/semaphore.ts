import { Observable } from 'rxjs';
import { translateError } from '../etcd/etcd-errors.js';
import { prefixOf, uniqueKey, validateName } from '../queue/keys.js';
import { validateSession } from '../session/validate.js';
import { PrefixMirror } from '../queue/mirror.js';
import { untilAborted } from '../etcd/abort.js';
import { enqueue, type EnqueueRequest, tryEnqueue, type ReadyPredicate } from '../queue/queue.js';
import { type Probe } from '../queue/guarded.js';
import { retryIdempotent, retryUntilAborted } from '../etcd/retry.js';
import { InvalidArgumentError, SemaphoreConfigError, SemaphoreFullError, leaseHex } from '../errors.js';
import type { Session } from '../session/session.js';
import { decodeContender, encodeContender, holdersOf, type SemaphoreHolder } from './contenders.js';
import { Permit } from './permit.js';

/** Options of {@link Semaphore}. */
export interface SemaphoreOptions {
  /** How many permits the semaphore has: a whole number ≥ 1, the same for every participant. */
  permits: number;
  /**
   * Default value stored with each contender key (who holds, for humans and tools).
   * @default ''
   */
  value?: string;
}

/** Options of {@link Semaphore.acquire}. */
export interface AcquireOptions {
  /** Abandons the wait: the promise rejects with the signal's reason and no key is left behind. */
  signal?: AbortSignal;
  /**
   * How many permits to take at once: a whole number from 1 to `permits`.
   * @default 1
   */
  weight?: number;
  /**
   * Stored with the contender key and reported by {@link Semaphore.holders$}.
   * @default the Semaphore's `value`
   */
  value?: string;
}

/**
 * A counting, weighted, FIFO-fair semaphore. Contenders queue by create revision as keys
 * `name/<lease id in hex>/<nonce>` on their sessions' leases; a contender holds once the weights
 * of every key ahead of it plus its own fit in `permits`. So the holders are always the longest
 * prefix of the queue that fits, use never exceeds `permits` at any revision, and a heavy waiter
 * at the head is never overtaken by lighter ones behind it (no starvation).
 *
 * The bare key `name` stores `permits` (written once by the first participant, never deleted by
 * the library); a participant configured differently gets {@link SemaphoreConfigError}, not
 * silent oversubscription. Permits of a session that dies come back when its lease ends. Do not
 * give a Semaphore the name of a Mutex or Election: their keys would share the prefix.
 *
 * @example
 * ```ts
 * const gpus = new Semaphore(session, 'pools/gpu', { permits: 4 });
 * await using permit = await gpus.acquire({ weight: 2, signal: AbortSignal.timeout(60_000) });
 * await train({ fencingToken: permit.fencingToken, signal: permit.signal });
 * ```
 */
export class Semaphore {
  /** The name given at construction: the key that stores `permits`. */
  readonly name: string;
  /** The prefix the contenders' keys live under: `name + '/'`. */
  readonly prefix: string;
  /** How many permits the semaphore has. */
  readonly permits: number;
  private readonly value: string;
  /** The agreement on `permits`, once etcd confirmed it (a failed check is retried next time). */
  private verified: Promise<void> | undefined;

  constructor(
    readonly session: Session,
    name: string,
    options: SemaphoreOptions,
  ) {
    validateSession(session, 'Semaphore');
    validateName(name, 'Semaphore');
    const permits = (options as SemaphoreOptions | undefined)?.permits;
    if (typeof permits !== 'number' || !Number.isSafeInteger(permits) || permits < 1) {
      throw new InvalidArgumentError(
        `Semaphore "${name}" permits must be a whole number ≥ 1, got ${String(permits)}`,
      );
    }
    checkValue(options.value, name);
    this.name = name;
    this.prefix = prefixOf(name);
    this.permits = permits;
    this.value = options.value ?? '';
  }

  /**
   * Waits for `weight` permits, in arrival order. Rejects with the signal's reason if aborted
   * (the contender key is removed), with the session's error if it ends first, with
   * {@link SemaphoreConfigError} if etcd has another `permits` for this name (nothing written).
   */
  async acquire(options: AcquireOptions = {}): Promise<Permit> {
    const { signal } = options;
    const weight = this.checkWeight(options.weight);
    const value = checkValue(options.value, this.name) ?? this.value;
    signal?.throwIfAborted();
    this.session.throwIfEnded();
    // Patient like the wait itself: an etcd outage during the first check is ridden out too.
    const patience = signal ? [this.session.signal, signal] : [this.session.signal];
    await untilAborted(this.verify(patience), signal, this.session.signal);
    return enqueue(
      { ...this.request(weight, value), signal },
      (ticket) => new Permit(this.session, ticket, weight, value),
    );
  }

  /**
   * Takes `weight` permits if they are free now and nobody waits ahead, else rejects with
   * {@link SemaphoreFullError} (leaving no key). Never waits for other contenders.
   */
  async tryAcquire(options: Omit<AcquireOptions, 'signal'> = {}): Promise<Permit> {
    const weight = this.checkWeight(options.weight);
    const value = checkValue(options.value, this.name) ?? this.value;
    this.session.throwIfEnded();
    await this.verify();
    const outcome = await tryEnqueue(
      this.request(weight, value),
      (ticket) => new Permit(this.session, ticket, weight, value),
    );
    if (!('ahead' in outcome)) return outcome;
    const holders = holdersOf(outcome.ahead, this.permits);
    const used = holders.reduce((sum, h) => sum + h.weight, 0);
    const waiting = outcome.ahead.length - holders.length;
    const atLeast = outcome.ahead.length > this.permits ? 'at least ' : ''; // the probe stops there
    throw new SemaphoreFullError(
      this.name,
      {
        permits: this.permits,
        used,
        holders: holders.map((h) => ({ key: h.key, weight: h.weight, leaseId: h.leaseId })),
      },
      `Semaphore "${this.name}" has no room for weight ${weight}: ${used} of ${this.permits} permits are held ` +
        `by ${holders.length} holder(s)` +
        (waiting > 0 ? ` and ${atLeast}${waiting} contender(s) wait ahead` : '') +
        `; use acquire() to wait for permits`,
    );
  }

  /**
   * The current holders, oldest first: emitted once the prefix has been read, then whenever the
   * set of holders changes (a release, a lease ending, a waiter promoted). Each subscription
   * shares the client's watch of the prefix; unsubscribing gives it back.
   */
  get holders$(): Observable<SemaphoreHolder[]> {
    const client = this.session.client;
    return new Observable<SemaphoreHolder[]>((subscriber) => {
      const mirror = PrefixMirror.acquire(client, this.prefix);
      let last: string | undefined;
      let ready = false;
      const emit = () => {
        if (!ready || subscriber.closed) return;
        const holders = holdersOf(mirror.entries(), this.permits);
        const id = holders.map((h) => `${h.key}@${h.createRevision}`).join('\n');
        if (id === last) return;
        last = id;
        subscriber.next(holders);
      };
      const offChange = mirror.onChange(emit);
      const offFailure = mirror.onFailure((err) => {
        subscriber.error(err);
      });
      mirror.ready().then(
        () => {
          ready = true;
          emit();
        },
        () => undefined, // reported through onFailure
      );
      return () => {
        offChange();
        offFailure();
        mirror.release();
      };
    });
  }

  /**
   * What the enqueue transaction reads: every weight is at least 1, so with `permits` keys ahead
   * nobody behind them fits; `permits + 1` keys include our own whenever we might.
   */
  private get probe(): Probe {
    return { prefix: this.prefix, limit: this.permits + 1 };
  }

  /** A contender's place: a fresh key with its weight and value. */
  private request(weight: number, value: string): EnqueueRequest {
    return {
      session: this.session,
      prefix: this.prefix,
      key: this.contenderKey(),
      value: encodeContender({ weight, value }),
      isReady: this.fits(weight),
      probe: this.probe,
      origin: { primitive: 'semaphore', name: this.name },
    };
  }

  /** A FIFO-monotone rule: the weights of every key ahead, plus our own, fit in `permits`. */
  private fits(weight: number): ReadyPredicate {
    return (ahead) => {
      let used = weight;
      for (const kv of ahead) {
        used += decodeContender(kv, this.permits).weight;
        if (used > this.permits) return false;
      }
      return true;
    };
  }

  private contenderKey(): string {
    return uniqueKey(`${this.prefix}${leaseHex(this.session.leaseId)}/`);
  }

  private checkWeight(weight: number | undefined): number {
    if (weight === undefined) return 1;
    if (typeof weight !== 'number' || !Number.isSafeInteger(weight) || weight < 1 || weight > this.permits) {
      throw new InvalidArgumentError(
        `Semaphore "${this.name}" weight must be a whole number from 1 to its ${this.permits} permits, got ${String(weight)}`,
      );
    }
    return weight;
  }

  /**
   * Makes sure etcd's `permits` for this name is ours: creates the bare key if absent, else reads
   * it, in one transaction. Cached once it succeeds; a failure is retried by the next call.
   */
  private verify(patience?: readonly AbortSignal[]): Promise<void> {
    if (!this.verified) {
      const check = this.checkConfig(patience);
      this.verified = check;
      check.catch(() => {
        if (this.verified === check) this.verified = undefined;
      });
    }
    return this.verified;
  }

  private async checkConfig(patience: readonly AbortSignal[] | undefined): Promise<void> {
    const client = this.session.client;
    const k = Buffer.from(this.name);
    let stored: string | undefined;
    // Create-if-absent or read: repeating it after a lost reply is harmless.
    const attempt = () =>
      client.kv.txn({
        compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: k, value: Buffer.from(String(this.permits)) } }],
        failure: [{ request_range: { key: k } }],
      });
    try {
      const res = await (patience ? retryUntilAborted(attempt, patience) : retryIdempotent(attempt));
      if (res.succeeded) return;
      stored = res.responses[0]?.response_range.kvs[0]?.value.toString();
    } catch (err) {
      throw translateError(err, client, this.name);
    }
    if (stored === String(this.permits)) return;
    const found =
      stored === undefined ? 'nothing' : /^\d+$/.test(stored) ? `${stored} permits` : `"${stored}"`;
    throw new SemaphoreConfigError(
      `Semaphore "${this.name}" has ${found} in etcd, but this participant was created with ${this.permits} permits. ` +
        `All participants must agree; to change the number, stop every participant and delete the key "${this.name}".`,
    );
  }
}

function checkValue(value: unknown, name: string): string | undefined {
  if (value !== undefined && typeof value !== 'string') {
    throw new InvalidArgumentError(`Semaphore "${name}" value must be a string, got ${typeof value}`);
  }
  return value;
}
