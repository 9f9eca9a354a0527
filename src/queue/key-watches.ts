import type { Etcd3 } from 'etcd3';
import type { Subscription } from 'rxjs';
import { clientState, slotKey } from '../etcd/client-state.js';
import { watch } from '../etcd/watch.js';

/**
 * Watches of single keys' deletes, shared and kept open for a while after their last use.
 *
 * A fleet's clients contend in a ring: whoever releases re-enqueues behind the others, so a
 * contender finds the same key just ahead of it round after round (a session's Mutex or Election
 * key is fixed). Keeping that key's watch open serves every round with one event and no creation.
 * It also avoids a trap of etcd 3.4: a watch created "from now" while writes go on may be put in
 * the unsynced group (the server reads its revision, then registers the watch; a write in between
 * makes the start revision past), and such a watch reports nothing until etcd's catch-up loop runs,
 * up to 100 ms later. A watch that stays open is synced once, for good.
 */

/** How long a watch nobody uses stays open, in case the key ahead is the same next round. */
const LINGER_MS = 2000;
/** At most this many unused watches stay open per client (the least recently used go first). */
const MAX_IDLE = 2;

export interface KeyDeletes {
  /** Resolves with etcd's revision when the watch was created: it reports every delete above. */
  readonly created: Promise<bigint>;
  /** The revision of the latest delete reported so far (0n: none yet). */
  readonly lastDelete: bigint;
  /** Calls `listener` with the revision of every later delete; returns its removal. */
  onDelete(listener: (revision: bigint) => void): () => void;
  /** Calls `listener` if the watch fails (the client was closed). */
  onFailure(listener: (err: Error) => void): () => void;
  /** Gives back this use. */
  release(): void;
}

class KeyWatch {
  readonly created: Promise<bigint>;
  lastDelete = 0n;
  refs = 0;
  failure: Error | undefined;
  lingerTimer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(revision: bigint) => void>();
  private readonly failureListeners = new Set<(err: Error) => void>();
  private readonly subscription: Subscription;

  constructor(
    client: Etcd3,
    readonly key: string,
    private readonly registry: Map<string, KeyWatch>,
  ) {
    let resolveCreated!: (revision: bigint) => void;
    let rejectCreated!: (err: Error) => void;
    this.created = new Promise<bigint>((resolve, reject) => {
      resolveCreated = resolve;
      rejectCreated = reject;
    });
    this.created.catch(() => undefined);
    this.subscription = watch(client, { key }, { only: 'delete', onCreated: resolveCreated }).subscribe({
      next: (batch) => {
        for (const event of batch.events) {
          this.lastDelete = event.kv.modRevision;
          for (const listener of [...this.listeners]) listener(event.kv.modRevision);
        }
      },
      error: (err: unknown) => {
        this.failure = err instanceof Error ? err : new Error(String(err));
        rejectCreated(this.failure);
        this.drop();
        for (const listener of [...this.failureListeners]) listener(this.failure);
      },
    });
  }

  use(): KeyDeletes {
    this.refs++;
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    return new KeyUse(this);
  }

  listen(listener: (revision: bigint) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  listenForFailure(listener: (err: Error) => void): () => void {
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  unuse(): void {
    if (--this.refs === 0) this.idle();
  }

  private idle(): void {
    if (this.failure) return;
    this.lingerTimer = setTimeout(() => {
      this.close();
    }, LINGER_MS);
    this.lingerTimer.unref();
    // Bound what a client keeps open: close the least recently idle ones beyond the limit.
    const idle = [...this.registry.values()].filter((w) => w.refs === 0);
    for (const w of idle.slice(0, Math.max(0, idle.length - MAX_IDLE))) w.close();
  }

  close(): void {
    clearTimeout(this.lingerTimer);
    this.drop();
    this.subscription.unsubscribe();
  }

  private drop(): void {
    if (this.registry.get(this.key) === this) this.registry.delete(this.key);
  }
}

/** One use of a {@link KeyWatch}: its listeners go with its release. */
class KeyUse implements KeyDeletes {
  private readonly removals: (() => void)[] = [];
  private released = false;

  constructor(private readonly w: KeyWatch) {}

  get created(): Promise<bigint> {
    return this.w.created;
  }

  get lastDelete(): bigint {
    return this.w.lastDelete;
  }

  onDelete(listener: (revision: bigint) => void): () => void {
    const remove = this.w.listen(listener);
    this.removals.push(remove);
    return remove;
  }

  onFailure(listener: (err: Error) => void): () => void {
    if (this.w.failure) {
      const err = this.w.failure;
      queueMicrotask(() => {
        listener(err);
      });
      return () => undefined;
    }
    const remove = this.w.listenForFailure(listener);
    this.removals.push(remove);
    return remove;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const remove of this.removals) remove();
    this.w.unuse();
  }
}

const WATCHES = slotKey<Map<string, KeyWatch>>('key delete watches');

/** The shared watch of `key`'s deletes on `client`: opened on first use, kept open a while after. */
export function keyDeletes(client: Etcd3, key: string): KeyDeletes {
  const registry = clientState(client).slot(WATCHES, () => new Map<string, KeyWatch>());
  let w = registry.get(key);
  if (!w) {
    w = new KeyWatch(client, key, registry);
    registry.set(key, w);
  } else {
    // Most recently used last, so that the idle limit closes the oldest.
    registry.delete(key);
    registry.set(key, w);
  }
  return w.use();
}

/**
 * How many key watches `client` has open (in use or lingering): for tests.
 * @internal
 */
export function openKeyWatches(client: Etcd3): number {
  return clientState(client).peek(WATCHES)?.size ?? 0;
}
