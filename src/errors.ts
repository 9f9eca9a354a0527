/**
 * The errors of etcd-concurrency. Every error the library throws on purpose extends
 * {@link EtcdConcurrencyError}, so `err instanceof EtcdConcurrencyError` separates our verdicts
 * from bugs. Messages say what happened and what to do; no message or field ever carries a secret.
 */

/** Base class of every error this library throws on purpose. */
export class EtcdConcurrencyError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }

  /**
   * A plain object for loggers and `JSON.stringify`: name, message and the error's own fields,
   * revisions (bigint) as decimal strings, so serialising an error never throws.
   */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, message: this.message };
    for (const [k, v] of Object.entries(this)) out[k] = jsonSafe(v);
    return out;
  }
}

function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
  }
  return value;
}

/** The session's lease expired, was revoked by someone else, or could not be renewed in time. */
export class SessionExpiredError extends EtcdConcurrencyError {
  readonly leaseId: string;
  constructor(leaseId: string, detail: string, options?: ErrorOptions) {
    super(
      `Session lease ${leaseHex(leaseId)} is lost: ${detail}. Its holds are gone; create a new Session to continue`,
      options,
    );
    this.leaseId = leaseId;
  }
}

/** The session was closed (or orphaned) by its owner. */
export class SessionClosedError extends EtcdConcurrencyError {
  readonly leaseId: string;
  constructor(leaseId: string, detail = 'the session was closed') {
    super(`Session lease ${leaseHex(leaseId)} is closed: ${detail}. Create a new Session to continue`);
    this.leaseId = leaseId;
  }
}

/** A hold's key was deleted by someone else while the session still lives. */
export class HoldLostError extends EtcdConcurrencyError {
  readonly key: string;
  constructor(key: string, detail = 'its key was deleted by another client') {
    super(`Hold on "${key}" is lost: ${detail}. Stop the guarded work; hold.txn() will no longer commit.`);
    this.key = key;
  }
}

/** Who holds a contended key, as reported by {@link LockedError} and friends. */
export interface HolderInfo {
  key: string;
  value: string;
  createRevision: bigint;
  leaseId: string;
}

/** `tryLock()` found the mutex held by another session. */
export class LockedError extends EtcdConcurrencyError {
  readonly name_: string;
  readonly holder: HolderInfo;
  constructor(kind: string, name: string, holder: HolderInfo) {
    const who = holder.value === '' ? '' : ` (value "${holder.value}")`;
    super(
      `${kind} "${name}" is held by lease ${leaseHex(holder.leaseId)}${who} since revision ${holder.createRevision}; ` +
        `use lock() to wait for it`,
    );
    this.name_ = name;
    this.holder = holder;
  }
}

/**
 * `proclaim()` was called by a candidate that is not (or no longer) the leader. Its election's
 * name is `name_` (as on {@link LockedError}: `name` is the error's own, `'NotLeaderError'`).
 */
export class NotLeaderError extends EtcdConcurrencyError {
  /** The election's name. */
  readonly name_: string;
  /**
   * The term (the own key's create revision) whose leadership turned out to be lost, or
   * undefined when this session was not leading at all.
   */
  readonly term: bigint | undefined;
  constructor(name: string, term: bigint | undefined, message: string) {
    super(message);
    this.name_ = name;
    this.term = term;
  }
}

/** `leader()` found no leader in the election. */
export class NoLeaderError extends EtcdConcurrencyError {}

/**
 * `tryAcquire()` found no room in the semaphore: `used` of `permits` are held by `holders`
 * (as of the transaction that looked). The semaphore's name is `name_` (`name` is the error's own).
 */
export class SemaphoreFullError extends EtcdConcurrencyError {
  /** The semaphore's name. */
  readonly name_: string;
  /** The semaphore's number of permits. */
  readonly permits: number;
  /** How many of them are held. */
  readonly used: number;
  /** Who holds them, oldest first: each holder's key, its weight and its session's lease id (decimal). */
  readonly holders: readonly { key: string; weight: number; leaseId: string }[];
  constructor(
    name: string,
    facts: Pick<SemaphoreFullError, 'permits' | 'used' | 'holders'>,
    message: string,
  ) {
    super(message);
    this.name_ = name;
    this.permits = facts.permits;
    this.used = facts.used;
    this.holders = facts.holders;
  }
}

/** Participants of one semaphore disagree on its number of permits. */
export class SemaphoreConfigError extends EtcdConcurrencyError {}

/** More participants than its count tried to enter a DoubleBarrier. */
export class TooManyParticipantsError extends EtcdConcurrencyError {}

/**
 * An STM transaction kept conflicting with concurrent writers: `attempts` runs of `apply` each
 * found, at commit, that a key it depended on had changed, and the retry budget (`maxRetries`)
 * is spent. Nothing was committed.
 */
export class StmConflictError extends EtcdConcurrencyError {
  /** How many times `apply` ran and tried to commit. */
  readonly attempts: number;
  /** How many of those commits failed their compares (every one of them, when this is thrown). */
  readonly conflicts: number;
  /** Keys seen changed by a concurrent writer at the last failed commit, when etcd told us. */
  readonly keys: readonly string[];
  constructor(attempts: number, keys: readonly string[] = []) {
    const which =
      keys.length === 0 ? '' : ` (last changed by others: ${keys.map((k) => `"${k}"`).join(', ')})`;
    super(
      `STM transaction conflicted with concurrent writers ${attempts} time(s) in ${attempts} attempt(s)${which}; ` +
        `nothing was committed. Raise maxRetries, or reduce contention on these keys`,
    );
    this.attempts = attempts;
    this.conflicts = attempts;
    this.keys = keys;
  }
}

/** etcd could not be reached (connection refused, timed out, or unavailable). */
export class EtcdUnavailableError extends EtcdConcurrencyError {
  readonly endpoints: readonly string[];
  constructor(endpoints: readonly string[], detail: string, options?: ErrorOptions) {
    super(
      `Cannot reach etcd at ${endpoints.join(', ') || '(unknown endpoints)'}: ${detail}. ` +
        `Check that etcd is running and that ETCD_ENDPOINTS / the endpoints option point at it.`,
      options,
    );
    this.endpoints = endpoints;
  }
}

/** etcd's authentication or RBAC refused an operation. */
export class PermissionDeniedError extends EtcdConcurrencyError {
  readonly key: string | undefined;
  readonly user: string | undefined;
  constructor(key: string | undefined, user: string | undefined, detail: string, options?: ErrorOptions) {
    const on = key === undefined ? '' : ` on "${key}"`;
    const as = user === undefined ? '' : ` for user "${user}"`;
    super(`etcd refused the operation${on}${as}: ${detail}`, options);
    this.key = key;
    this.user = user;
  }
}

/** An argument is out of its domain (empty names, bad TTL, permits < 1, …). */
export class InvalidArgumentError extends EtcdConcurrencyError {}

/** Go's `%x` of an int64 lease id, given etcd3's decimal string. */
export function leaseHex(leaseId: string): string {
  try {
    return BigInt.asUintN(64, BigInt(leaseId)).toString(16);
  } catch {
    return leaseId;
  }
}
