import type { Etcd3 } from 'etcd3';

declare const slotType: unique symbol;

/**
 * The key of one layer's part of a client's state, typed by what it holds. Each module makes its
 * own with {@link slotKey}, so this file needs to know nothing of the layers above it.
 */
export type SlotKey<T> = symbol & { readonly [slotType]?: T };

/** A new key for {@link ClientState.slot}; `name` shows in a debugger. */
export function slotKey<T>(name: string): SlotKey<T> {
  return Symbol(name);
}

/**
 * Everything the library keeps per etcd3 client, in one place: its endpoints and require-leader
 * setting, the shared watch and keep-alive streams, the prefix mirrors, the registries of the
 * primitives. Each layer registers its part lazily under its own {@link SlotKey}; teardowns
 * registered with {@link ClientState.onClose} run from the one hook on `client.close()`.
 */
export class ClientState {
  private readonly slots = new Map<symbol, unknown>();
  private closeHooks: Set<() => void> | undefined;

  constructor(private readonly client: Etcd3) {}

  /** This client's part under `key`, made by `make` on first use. */
  slot<T>(key: SlotKey<T>, make: () => T): T {
    if (this.slots.has(key)) return this.slots.get(key) as T;
    const value = make();
    this.slots.set(key, value);
    return value;
  }

  /** The part under `key` if some call made it, else undefined. */
  peek<T>(key: SlotKey<T>): T | undefined {
    return this.slots.get(key) as T | undefined;
  }

  /** Sets the part under `key` (settings createClient records). */
  set<T>(key: SlotKey<T>, value: T): void {
    this.slots.set(key, value);
  }

  /**
   * Runs `teardown` when `client.close()` is called. etcd3's close() leaves open streams running
   * (and the process alive), so every stream the library opens on a client registers here.
   * Returns the function that unregisters.
   */
  onClose(teardown: () => void): () => void {
    let hooks = this.closeHooks;
    if (!hooks) {
      const fns = new Set<() => void>();
      hooks = fns;
      this.closeHooks = fns;
      // Patched once per client, on the first stream: a client that never opens one keeps its own close().
      const close = this.client.close.bind(this.client);
      this.client.close = () => {
        for (const fn of [...fns]) fn();
        fns.clear();
        close();
      };
    }
    const mine = hooks;
    mine.add(teardown);
    return () => mine.delete(teardown);
  }
}

const states = new WeakMap<Etcd3, ClientState>();

/**
 * The one owner of `client`'s per-client state (made on first use, gone with the client).
 *
 * @example
 * ```ts
 * const HUBS = slotKey<Map<string, Hub>>('hubs');
 * const byName = clientState(client).slot(HUBS, () => new Map());
 * clientState(client).onClose(() => byName.clear());
 * ```
 */
export function clientState(client: Etcd3): ClientState {
  let state = states.get(client);
  if (!state) {
    state = new ClientState(client);
    states.set(client, state);
  }
  return state;
}
