import type { Etcd3 } from 'etcd3';

const hooks = new WeakMap<Etcd3, Set<() => void>>();

/**
 * Runs `teardown` when `client.close()` is called. etcd3's close() leaves open streams running
 * (and the process alive), so every stream the library opens on a client registers here.
 * Returns the function that unregisters.
 */
export function onClientClose(client: Etcd3, teardown: () => void): () => void {
  let set = hooks.get(client);
  if (!set) {
    const fns = new Set<() => void>();
    set = fns;
    hooks.set(client, fns);
    const close = client.close.bind(client);
    client.close = () => {
      for (const fn of [...fns]) fn();
      fns.clear();
      close();
    };
  }
  set.add(teardown);
  return () => set.delete(teardown);
}
