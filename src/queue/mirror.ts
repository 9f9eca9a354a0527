import type { Etcd3 } from 'etcd3';
import type { Subscription } from 'rxjs';
import pRetry from 'p-retry';
import { clientState, slotKey } from '../etcd/client-state.js';
import { isTransientError, translateError } from '../etcd/etcd-errors.js';
import { readPrefix } from '../etcd/read.js';
import { type KeyValue, type WatchBatch, WatchCompactedError, watch } from '../etcd/watch.js';
import { retryIf } from '../diagnostics/publish.js';

/** A waiter on the queue under a prefix: see {@link PrefixMirror.addWaiter}. */
export interface MirrorWaiter {
  /** Create revision of the waiter's own key: its place in the queue. */
  readonly rev: bigint;
  readonly key: string;
  /** Whether the wait is over, given every key ahead (lower create revision), oldest first. */
  isReady(ahead: readonly KeyValue[], self: KeyValue): boolean;
  ready(): void;
}

/** Keeps a mirror from closing when its last user leaves, so back-to-back operations reuse it. */
const LINGER_MS = 1000;

/** The client's mirrors, by prefix. */
const MIRRORS = slotKey<Map<string, PrefixMirror>>('prefix mirrors');

/**
 * The keys under one prefix, kept in creation order from one long-lived watch: the shared view of
 * a queue that every waiter of a client reads instead of asking etcd.
 *
 * Why a mirror: a watch opened per wait from a past revision is "unsynced" and etcd catches it up
 * only every 100 ms, which capped Go's Mutex at ~80 handoffs/s here. This watch starts "from now"
 * (synced at once) and the state at its start revision is read once; from then on a release
 * reaches the new head of the queue as one watch event, whatever the number of waiters.
 *
 * Correctness rests on a property of revisions: a key created later can never sort ahead of an
 * existing one, so the set of keys ahead of a waiter only shrinks, and tracking it from delete
 * events is exact. The map's insertion order is the creation order (new keys are appended, a
 * re-put keeps its place), so "ahead of me" is a walk from the front.
 */
export class PrefixMirror {
  /** The revision the mirror reflects: every event up to it has been applied. */
  revision = 0n;
  private readonly keys = new Map<string, KeyValue>();
  private readonly waiters: MirrorWaiter[] = [];
  private readonly keyListeners = new Map<string, Set<(createRevision: bigint) => void>>();
  private readonly changeListeners = new Set<(batch: WatchBatch) => void>();
  private readonly failureListeners = new Set<(err: Error) => void>();
  private readonly catchUps: { rev: bigint; resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (e: Error) => void;
  private isReadyNow = false;
  private failure: Error | undefined;
  private subscription: Subscription | undefined;
  private buffered: WatchBatch[] | undefined = [];
  private refs = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly unhook: () => void;

  private constructor(
    private readonly client: Etcd3,
    readonly prefix: string,
  ) {
    this.readyPromise = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.readyPromise.catch(noop);
    this.unhook = clientState(client).onClose(() => {
      this.fail(new Error('the etcd client was closed'));
    });
    this.start();
  }

  /** The mirror of `prefix` on `client`, shared and reference-counted: call {@link release} once. */
  static acquire(client: Etcd3, prefix: string): PrefixMirror {
    const byPrefix = clientState(client).slot(MIRRORS, () => new Map<string, PrefixMirror>());
    let mirror = byPrefix.get(prefix);
    if (!mirror) {
      mirror = new PrefixMirror(client, prefix);
      byPrefix.set(prefix, mirror);
    }
    mirror.refs++;
    clearTimeout(mirror.lingerTimer);
    mirror.lingerTimer = undefined;
    return mirror;
  }

  /** Whether `client` mirrors `prefix` now (in use, or lingering after its last use), unfailed. */
  static exists(client: Etcd3, prefix: string): boolean {
    const mirror = clientState(client).peek(MIRRORS)?.get(prefix);
    return mirror !== undefined && mirror.failure === undefined;
  }

  /** Gives back one reference; the last one closes the mirror after a short linger. */
  release(): void {
    if (--this.refs > 0) return;
    this.lingerTimer = setTimeout(() => {
      if (this.refs === 0) this.close();
    }, LINGER_MS);
    this.lingerTimer.unref();
  }

  /** Resolves once the initial read is applied; rejects if the mirror failed. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** Resolves when every event up to `rev` has been applied (for example the own key's put). */
  caughtUp(rev: bigint): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.isReadyNow && this.revision >= rev) return Promise.resolve();
    return new Promise((resolve, reject) => this.catchUps.push({ rev, resolve, reject }));
  }

  get(key: string): KeyValue | undefined {
    return this.keys.get(key);
  }

  /** Every key, oldest first. */
  entries(): IterableIterator<KeyValue> {
    return this.keys.values();
  }

  /** The oldest key, if any: the holder of a mutex, the leader of an election. */
  first(): KeyValue | undefined {
    for (const kv of this.keys.values()) return kv;
    return undefined;
  }

  /** The keys with a create revision below `rev`, oldest first. */
  ahead(rev: bigint): KeyValue[] {
    const out: KeyValue[] = [];
    for (const kv of this.keys.values()) {
      if (kv.createRevision >= rev) break;
      out.push(kv);
    }
    return out;
  }

  /**
   * Registers a waiter and checks it at once, then on every delete ahead of it. Waiters are
   * checked in queue order and the check stops at the first one still waiting: the predicates
   * of every primitive here are FIFO-monotone (if a waiter must wait, so must every later one),
   * so a release costs O(1) checks, not one per waiter. Returns false if the waiter's own key
   * is already gone (the caller decides why), else the function that removes the waiter.
   */
  addWaiter(waiter: MirrorWaiter): (() => void) | false {
    const self = this.keys.get(waiter.key);
    if (!self || self.createRevision !== waiter.rev) return false;
    let i = this.waiters.length;
    while (i > 0 && this.waiters[i - 1]!.rev > waiter.rev) i--;
    this.waiters.splice(i, 0, waiter);
    this.evaluate();
    return () => {
      const at = this.waiters.indexOf(waiter);
      if (at >= 0) this.waiters.splice(at, 1);
    };
  }

  /** Calls `onDeleted` when `key` is deleted (with the create revision it had). */
  onDeleted(key: string, onDeleted: (createRevision: bigint) => void): () => void {
    let set = this.keyListeners.get(key);
    if (!set) {
      set = new Set();
      this.keyListeners.set(key, set);
    }
    set.add(onDeleted);
    return () => {
      set.delete(onDeleted);
      if (set.size === 0) this.keyListeners.delete(key);
    };
  }

  /** Calls `listener` after each applied batch of changes (and with an empty batch after a re-read). */
  onChange(listener: (batch: WatchBatch) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Calls `listener` if the mirror fails for good (the client was closed, etcd refused the watch). */
  onFailure(listener: (err: Error) => void): () => void {
    if (this.failure) {
      const err = this.failure;
      queueMicrotask(() => {
        listener(err);
      });
      return noop;
    }
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  /** The error that ended the mirror, if any. */
  get error(): Error | undefined {
    return this.failure;
  }

  private start(): void {
    this.buffered = [];
    this.subscription = watch(
      this.client,
      { prefix: this.prefix },
      {
        onCreated: (revision) => {
          this.read(revision).catch((err: unknown) => {
            this.fail(translateError(err, this.client, this.prefix));
          });
        },
      },
    ).subscribe({
      next: (batch) => {
        if (this.buffered) this.buffered.push(batch);
        else this.apply(batch);
      },
      error: (err: unknown) => {
        if (err instanceof WatchCompactedError) {
          this.restart();
          return;
        }
        this.fail(translateError(err, this.client, this.prefix));
      },
    });
  }

  /** Watches again from now and re-reads: after compaction left the watch no way to resume. */
  private restart(): void {
    this.subscription?.unsubscribe();
    this.start();
  }

  /** Reads the prefix as of `revision`, the watch's start, and applies what the watch buffered since. */
  private async read(revision: bigint): Promise<void> {
    // Patient with connection trouble: if this read gives up, the mirror and its waiters fail.
    const read = await pRetry(() => readPrefix(this.client, this.prefix, { revision }), {
      retries: 5,
      minTimeout: 50,
      maxTimeout: 1000,
      shouldRetry: (ctx) => retryIf(isTransientError(ctx.error), 'mirror-read', ctx),
    });
    if (this.failure) return;
    const fresh = new Map<string, KeyValue>();
    for (const kv of read.kvs) fresh.set(kv.key, kv);
    // On a re-read, keys that vanished meanwhile are reported as deleted.
    const gone: KeyValue[] = [];
    for (const [key, kv] of this.keys) {
      if (fresh.get(key)?.createRevision !== kv.createRevision) gone.push(kv);
    }
    this.keys.clear();
    for (const [key, kv] of fresh) this.keys.set(key, kv);
    this.revision = revision > this.revision ? revision : this.revision;
    const pending = this.buffered ?? [];
    this.buffered = undefined;
    for (const kv of gone) this.fireDeleted(kv);
    this.isReadyNow = true;
    this.resolveReady();
    this.afterChange({ revision, events: [] }, gone.length > 0);
    for (const batch of pending) this.apply(batch);
  }

  private apply(batch: WatchBatch): void {
    let deleted = false;
    // One transaction can change several keys at one revision: compare with the revision the
    // mirror had before this batch, not with one advanced by the batch's own events.
    const base = this.revision;
    for (const { type, kv } of batch.events) {
      if (kv.modRevision <= base) continue; // already in the read
      if (kv.modRevision > this.revision) this.revision = kv.modRevision;
      if (type === 'put') {
        const had = this.keys.get(kv.key);
        if (had && had.createRevision !== kv.createRevision) {
          this.keys.delete(kv.key);
          this.fireDeleted(had);
          deleted = true;
        }
        this.keys.set(kv.key, kv);
      } else {
        const had = this.keys.get(kv.key);
        if (!had) continue;
        this.keys.delete(kv.key);
        this.fireDeleted(had);
        deleted = true;
      }
    }
    this.afterChange(batch, deleted);
  }

  private fireDeleted(kv: KeyValue): void {
    const set = this.keyListeners.get(kv.key);
    if (set) for (const fn of [...set]) fn(kv.createRevision);
  }

  private afterChange(batch: WatchBatch, deleted: boolean): void {
    for (let i = 0; i < this.catchUps.length;) {
      const c = this.catchUps[i]!;
      if (c.rev <= this.revision) {
        this.catchUps.splice(i, 1);
        c.resolve();
      } else i++;
    }
    if (deleted) this.evaluate();
    for (const fn of [...this.changeListeners]) fn(batch);
  }

  private evaluate(): void {
    while (this.waiters.length > 0) {
      const waiter = this.waiters[0]!;
      const self = this.keys.get(waiter.key);
      if (!self || self.createRevision !== waiter.rev) {
        // Its key is gone: its owner hears of it through onDeleted; it no longer blocks others.
        this.waiters.shift();
        continue;
      }
      if (!waiter.isReady(this.ahead(waiter.rev), self)) return;
      this.waiters.shift();
      waiter.ready();
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.rejectReady(err);
    for (const c of this.catchUps.splice(0)) c.reject(err);
    for (const fn of [...this.failureListeners]) fn(err);
    this.failureListeners.clear();
    this.forget();
  }

  private close(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.forget();
  }

  private forget(): void {
    this.unhook();
    clearTimeout(this.lingerTimer);
    const byPrefix = clientState(this.client).peek(MIRRORS);
    if (byPrefix?.get(this.prefix) === this) byPrefix.delete(this.prefix);
  }
}

function noop(): void {
  /* nothing */
}
