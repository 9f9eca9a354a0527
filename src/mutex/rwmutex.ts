import { prefixOf, uniqueKey, validateName } from '../queue/keys.js';
import { validateSession } from '../session/validate.js';
import { enqueue, type EnqueueRequest, tryEnqueue, type ReadyPredicate } from '../queue/queue.js';
import type { Probe } from '../queue/guarded.js';
import { InvalidArgumentError, LockedError } from '../errors.js';
import { Hold } from '../queue/hold.js';
import type { Session } from '../session/session.js';
import type { LockOptions, MutexOptions } from './mutex.js';

/**
 * A distributed readers–writer lock with the key layout of Go's `recipes.RWMutex`: readers are
 * `name/read/<unix nanos>`, writers `name/write/<unix nanos>`, all on the session's lease.
 * Strict FIFO by create revision: readers share with the readers ahead of them, a writer waits
 * for everyone ahead, and a reader that arrives after a waiting writer queues behind it, so
 * writers never starve.
 *
 * Unlike Mutex, each call takes its own key: two `rLock()` calls on one session are two holds.
 *
 * @example
 * ```ts
 * const rw = new RWMutex(session, 'config');
 * await using read = await rw.rLock();
 * ```
 */
export class RWMutex {
  readonly name: string;
  /** `name + '/'`, the prefix of every reader and writer key. */
  readonly prefix: string;
  private readonly readPrefix: string;
  private readonly writePrefix: string;
  private readonly value: string;

  constructor(
    readonly session: Session,
    name: string,
    options: MutexOptions = {},
  ) {
    validateSession(session, 'RWMutex');
    validateName(name, 'RWMutex');
    if (options.value !== undefined && typeof options.value !== 'string') {
      throw new InvalidArgumentError('RWMutex value must be a string');
    }
    this.name = name;
    this.prefix = prefixOf(name);
    this.readPrefix = `${this.prefix}read/`;
    this.writePrefix = `${this.prefix}write/`;
    this.value = options.value ?? '';
  }

  /** Waits for a shared (read) hold: until no writer is ahead. */
  rLock(options: LockOptions = {}): Promise<Hold> {
    return this.acquire(this.readPrefix, this.noWriterAhead, this.oldestWriter, options);
  }

  /** Waits for the exclusive (write) hold: until nobody is ahead. */
  lock(options: LockOptions = {}): Promise<Hold> {
    return this.acquire(this.writePrefix, nobodyAhead, this.oldest, options);
  }

  /** Takes a read hold if no writer holds or waits ahead, else rejects with {@link LockedError}. */
  tryRLock(): Promise<Hold> {
    return this.tryAcquire(this.readPrefix, this.noWriterAhead, this.oldestWriter);
  }

  /** Takes the write hold if nobody holds or waits, else rejects with {@link LockedError}. */
  tryLock(): Promise<Hold> {
    return this.tryAcquire(this.writePrefix, nobodyAhead, this.oldest);
  }

  private readonly noWriterAhead: ReadyPredicate = (ahead) =>
    !ahead.some((kv) => kv.key.startsWith(this.writePrefix));

  /** What a reader's enqueue transaction reads: only a writer ahead can make it wait. */
  private get oldestWriter(): Probe {
    return { prefix: this.writePrefix, limit: 1 };
  }

  /** What a writer's enqueue transaction reads: anyone ahead makes it wait. */
  private get oldest(): Probe {
    return { prefix: this.prefix, limit: 1 };
  }

  /** A reader's or writer's place: a fresh key under `under`, on the queue of the whole name. */
  private request(under: string, isReady: ReadyPredicate, probe: Probe): EnqueueRequest {
    return {
      exclusive: isReady === nobodyAhead,
      session: this.session,
      prefix: this.prefix,
      key: () => uniqueKey(under),
      value: this.value,
      isReady,
      probe,
      origin: { primitive: 'rwmutex', name: this.name },
    };
  }

  private acquire(under: string, isReady: ReadyPredicate, probe: Probe, options: LockOptions): Promise<Hold> {
    return enqueue(
      { ...this.request(under, isReady, probe), signal: options.signal },
      (ticket) => new Hold(this.session, ticket),
    );
  }

  private async tryAcquire(under: string, isReady: ReadyPredicate, probe: Probe): Promise<Hold> {
    const outcome = await tryEnqueue(
      this.request(under, isReady, probe),
      (ticket) => new Hold(this.session, ticket),
    );
    if (!('ahead' in outcome)) return outcome;
    const blocker = outcome.ahead.find((kv) => kv.key.startsWith(this.writePrefix)) ?? outcome.ahead[0];
    if (!blocker) throw new Error('tryEnqueue reported a blocked RWMutex with nobody ahead');
    throw new LockedError('RWMutex', this.name, {
      key: blocker.key,
      value: blocker.value.toString(),
      createRevision: blocker.createRevision,
      leaseId: blocker.leaseId,
    });
  }
}

const nobodyAhead: ReadyPredicate = (ahead) => ahead.length === 0;
