import type { Etcd3, ICompare, IRangeResponse, IRequestOp, ITxnResponse } from 'etcd3';
import { untilAborted } from '../etcd/abort.js';
import { translateError } from '../etcd/etcd-errors.js';
import { retryIdempotent } from '../etcd/retry.js';
import { validateClient, validateSignal } from '../etcd/validate.js';
import { InvalidArgumentError, StmConflictError } from '../errors.js';
import { backoffDelay, sleep } from './backoff.js';

/**
 * How an STM transaction is isolated from concurrent writers, with the semantics of Go's
 * `concurrency.Isolation` levels (strongest first):
 * - `'serializable-snapshot'`: reads come from one snapshot (the revision of the first read);
 *   commits only if no key it read *or wrote* was modified since that snapshot. Concurrent
 *   writers that touch any key of the transaction conflict, as in snapshot isolation, and since
 *   the reads are checked too, the outcome is serializable.
 * - `'serializable'`: reads come from one snapshot; commits only if no key it read was modified
 *   since it was read. Blind writes (keys written but not read) are not checked.
 * - `'repeatable-reads'`: each key is read once (later reads of it are cached) from whatever
 *   member-local revision is current; commits only if no key it read was modified since.
 * - `'read-committed'`: reads as repeatable-reads, commits unconditionally: no conflict ever.
 */
export type StmIsolation = 'serializable-snapshot' | 'serializable' | 'repeatable-reads' | 'read-committed';

/** Options of {@link stm}. */
export interface StmOptions {
  /**
   * Isolation level; see {@link StmIsolation} for what each level reads and compares.
   * @default 'serializable-snapshot'
   */
  isolation?: StmIsolation;
  /**
   * Abandons the transaction: a pending read, or the backoff before the next attempt, rejects
   * with the signal's reason and nothing is committed. A commit already sent is not abandoned:
   * its outcome is reported as it is (a commit cannot be recalled).
   */
  signal?: AbortSignal;
  /** Keys every attempt reads first, all in one round trip (Go's `WithPrefetch`). @default [] */
  prefetch?: readonly string[];
  /**
   * How many times a conflicting commit runs `apply` again before giving up with
   * {@link StmConflictError}. Between attempts it waits a jittered, exponentially growing delay
   * (Go retries at once, forever).
   * @default 10
   */
  maxRetries?: number;
}

/** Options of {@link StmTx.put}. */
export interface StmPutOptions {
  /** Attach the key to this lease (decimal id, as `session.leaseId`). */
  lease?: string;
}

/**
 * The transaction `apply` works in: reads go to etcd (once per key and attempt), writes are
 * buffered and sent in one etcd transaction when `apply` returns.
 */
export interface StmTx {
  /**
   * The value of the first of `keys` as a string, `''` if it does not exist. A key this
   * transaction wrote reads as written (`''` if deleted). Every given key not read yet is read
   * in the same round trip and joins the read set (the keys checked at commit).
   */
  get(...keys: string[]): Promise<string>;
  /** As {@link get}, as a `Buffer` (empty if the key does not exist). */
  getBuffer(...keys: string[]): Promise<Buffer>;
  /** Buffers a put of `key`; later reads in this transaction see it. */
  put(key: string, value: string | Buffer, options?: StmPutOptions): void;
  /** Buffers a delete of `key`; later reads in this transaction see `''`. */
  delete(key: string): void;
  /**
   * The mod revision of `key` as this transaction read it (`0n` if it did not exist). Throws
   * if the key has not been read in this attempt: read it with {@link get} first.
   */
  rev(key: string): bigint;
}

const DEFAULT_MAX_RETRIES = 10;

/**
 * Runs `apply` as a software transactional memory transaction over etcd, as Go's
 * `concurrency.NewSTM`: `apply` reads keys through `tx.get`, buffers writes through `tx.put` and
 * `tx.delete`, and the writes commit in one etcd transaction that compares what the isolation
 * level requires. If another writer got in between, `apply` runs again on fresh data, after a
 * jittered backoff, up to `maxRetries` times; then the promise rejects with
 * {@link StmConflictError}. What `apply` returns is the result. If `apply` throws, the promise
 * rejects with that error and nothing is committed.
 *
 * `apply` may run several times: keep side effects outside it, or make them idempotent.
 * Use a client from `createClient()`: etcd3's default retry policy re-sends a commit whose reply
 * was lost, which would make a committed transaction look like a conflict and run it twice.
 *
 * @example
 * ```ts
 * const left = await stm(client, async (tx) => {
 *   const a = Number(await tx.get('acct/a', 'acct/b')); // both read in one round trip
 *   const b = Number(await tx.get('acct/b'));
 *   tx.put('acct/a', String(a - 10));
 *   tx.put('acct/b', String(b + 10));
 *   return a - 10;
 * }, { isolation: 'serializable-snapshot', signal: AbortSignal.timeout(5000) });
 * ```
 */
export async function stm<T>(
  client: Etcd3,
  apply: (tx: StmTx) => Promise<T> | T,
  options: StmOptions = {},
): Promise<T> {
  validateClient(client, 'stm');
  const {
    isolation = 'serializable-snapshot',
    signal,
    prefetch = [],
    maxRetries = DEFAULT_MAX_RETRIES,
  } = options;
  validateSignal(signal, 'stm');
  if (typeof apply !== 'function') throw new InvalidArgumentError('stm needs an apply function');
  if (!ISOLATIONS.includes(isolation)) {
    throw new InvalidArgumentError(
      `stm: isolation must be one of ${ISOLATIONS.map((i) => `'${i}'`).join(', ')}, got ${JSON.stringify(isolation)}`,
    );
  }
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw new InvalidArgumentError(`stm: maxRetries must be a non-negative integer, got ${maxRetries}`);
  }
  for (const key of prefetch) validateKey(key);
  signal?.throwIfAborted();

  // Serializable levels carry what a failed commit read (Go's else-branch prefetch) into the
  // next attempt, so a retry starts from a fresh snapshot without another round trip.
  let carried: Map<string, Read> | undefined;
  for (let attempt = 1; ; attempt++) {
    const tx = new Attempt(client, isolation, signal, carried);
    if (prefetch.length > 0) await tx.get(...prefetch);
    let result: T;
    try {
      result = await apply(tx.view);
    } finally {
      tx.close();
    }
    signal?.throwIfAborted(); // the last moment at which nothing has been sent
    const outcome = await tx.commit();
    if (outcome.committed) return result;
    carried =
      isolation === 'serializable' || isolation === 'serializable-snapshot' ? outcome.reread : undefined;
    if (attempt > maxRetries) throw new StmConflictError(attempt, outcome.changed);
    await sleep(backoffDelay(attempt), signal);
  }
}

const ISOLATIONS: readonly StmIsolation[] = [
  'serializable-snapshot',
  'serializable',
  'repeatable-reads',
  'read-committed',
];

/** A key as read: its value and mod revision (0n if absent), and the revision of the read. */
interface Read {
  value: Buffer;
  modRevision: bigint;
  readRevision: bigint;
}

type Write = { kind: 'put'; value: Buffer; lease: string | undefined } | { kind: 'delete' };

interface Outcome {
  committed: boolean;
  /** Serializable levels: the read set as of the failed commit. */
  reread?: Map<string, Read>;
  /** Keys of the read set that had changed, as far as the failed commit's reply shows. */
  changed: string[];
}

const EMPTY = Buffer.alloc(0);

/** One run of `apply`: its read set, its write set, and the commit they make. */
class Attempt {
  private readonly reads = new Map<string, Read>();
  private readonly writes = new Map<string, Write>();
  /** The snapshot revision of serializable levels: the first read's, once there is one. */
  private snapshot: bigint | undefined;
  private closed = false;
  readonly view: StmTx;

  constructor(
    private readonly client: Etcd3,
    private readonly isolation: StmIsolation,
    private readonly signal: AbortSignal | undefined,
    private readonly carried: Map<string, Read> | undefined,
  ) {
    this.view = {
      get: async (...keys) => (await this.read(keys)).toString(),
      getBuffer: (...keys) => this.read(keys),
      put: (key, value, opts = {}) => {
        this.writable(key);
        if (typeof value !== 'string' && !Buffer.isBuffer(value)) {
          throw new InvalidArgumentError(`tx.put("${key}"): value must be a string or a Buffer`);
        }
        this.writes.set(key, { kind: 'put', value: Buffer.from(value), lease: opts.lease });
      },
      delete: (key) => {
        this.writable(key);
        this.writes.set(key, { kind: 'delete' });
      },
      rev: (key) => {
        validateKey(key);
        const read = this.reads.get(key);
        if (!read) {
          throw new InvalidArgumentError(
            `tx.rev("${key}"): the key was not read in this transaction; call tx.get("${key}") first`,
          );
        }
        return read.modRevision;
      },
    };
  }

  /** `apply` has returned: the tx object must not be used any more (a leaked promise, say). */
  close(): void {
    this.closed = true;
  }

  get(...keys: string[]): Promise<Buffer> {
    return this.read(keys);
  }

  private writable(key: string): void {
    validateKey(key);
    if (this.closed) throw new InvalidArgumentError(`tx used after apply returned (key "${key}")`);
  }

  private async read(keys: string[]): Promise<Buffer> {
    for (const key of keys) validateKey(key);
    if (this.closed) throw new InvalidArgumentError('tx used after apply returned');
    if (keys.length === 0) return EMPTY;
    const first = keys[0]!;
    if (this.carried) {
      for (const key of keys) {
        const read = this.carried.get(key);
        if (read && !this.reads.has(key)) {
          this.carried.delete(key);
          this.remember(key, read);
        }
      }
    }
    const missing = [...new Set(keys.filter((k) => !this.reads.has(k) && !this.writes.has(k)))];
    if (missing.length > 0) await this.fetch(missing);
    const written = this.writes.get(first);
    if (written) return written.kind === 'put' ? written.value : EMPTY;
    return this.reads.get(first)!.value;
  }

  private remember(key: string, read: Read): void {
    this.reads.set(key, read);
    // The first read fixes the snapshot of serializable levels.
    this.snapshot ??= read.readRevision;
  }

  /** Reads `keys` in one round trip, at the snapshot if the level has one. */
  private async fetch(keys: string[]): Promise<void> {
    const pinned = this.isolation === 'serializable' || this.isolation === 'serializable-snapshot';
    // The first read of a serializable level is linearizable (it defines the snapshot); later
    // ones are pinned to it and may be served by any member. Repeatable-reads and read-committed
    // read member-local data, as Go does.
    const at = pinned ? this.snapshot : undefined;
    const local = !pinned || at !== undefined;
    const request = (key: string): IRequestOp => ({
      request_range: {
        key: Buffer.from(key),
        ...(at === undefined ? {} : { revision: at.toString() }),
        ...(local ? { serializable: true } : {}),
      },
    });
    let res: ITxnResponse;
    try {
      res = await untilAborted(
        retryIdempotent(
          () => this.client.kv.txn({ compare: [], success: keys.map(request), failure: [] }),
          this.signal,
        ),
        this.signal,
      );
    } catch (err) {
      if (this.signal?.aborted) throw this.signal.reason;
      throw translateError(err, this.client, keys[0]);
    }
    keys.forEach((key, i) => {
      this.remember(key, toRead(res.responses[i]?.response_range, BigInt(res.header.revision)));
    });
  }

  /** Sends the write set in one transaction, guarded by the compares of the isolation level. */
  async commit(): Promise<Outcome> {
    const compare: ICompare[] = [];
    if (this.isolation !== 'read-committed') {
      for (const [key, read] of this.reads) {
        // Still the version we read (mod revision 0: still absent).
        compare.push({
          key: Buffer.from(key),
          target: 'Mod',
          result: 'Equal',
          mod_revision: read.modRevision.toString(),
        });
      }
    }
    if (this.isolation === 'serializable-snapshot' && this.snapshot !== undefined) {
      // Written keys must not have changed after the snapshot either (write-write conflicts).
      for (const key of this.writes.keys()) {
        compare.push({
          key: Buffer.from(key),
          target: 'Mod',
          result: 'Less',
          mod_revision: (this.snapshot + 1n).toString(),
        });
      }
    }
    const success: IRequestOp[] = [...this.writes].map(([key, w]) =>
      w.kind === 'put'
        ? { request_put: { key: Buffer.from(key), value: w.value, ...(w.lease ? { lease: w.lease } : {}) } }
        : { request_delete_range: { key: Buffer.from(key) } },
    );
    const readKeys = [...this.reads.keys()];
    // On failure, read the read set again: the next attempt starts from it (serializable levels)
    // and the error can name the keys that changed.
    const failure: IRequestOp[] = readKeys.map((key) => ({ request_range: { key: Buffer.from(key) } }));
    let res: ITxnResponse;
    try {
      res = await this.client.kv.txn({ compare, success, failure });
    } catch (err) {
      throw translateError(err, this.client, readKeys[0] ?? [...this.writes.keys()][0]);
    }
    if (res.succeeded) return { committed: true, changed: [] };
    const revision = BigInt(res.header.revision);
    const reread = new Map<string, Read>();
    const changed: string[] = [];
    readKeys.forEach((key, i) => {
      const now = toRead(res.responses[i]?.response_range, revision);
      reread.set(key, now);
      if (now.modRevision !== this.reads.get(key)!.modRevision) changed.push(key);
    });
    // A written key changed after the snapshot conflicts too; the reply cannot say which.
    return { committed: false, reread, changed };
  }
}

function toRead(range: IRangeResponse | undefined, readRevision: bigint): Read {
  const kv = range?.kvs[0];
  return kv
    ? { value: kv.value, modRevision: BigInt(kv.mod_revision), readRevision }
    : { value: EMPTY, modRevision: 0n, readRevision };
}

function validateKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InvalidArgumentError(
      `STM keys must be non-empty strings, got ${typeof key === 'string' ? '""' : typeof key}`,
    );
  }
}
