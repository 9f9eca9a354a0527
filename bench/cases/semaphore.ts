import { semaphoreContender } from '../contenders/semaphore.js';
import type { Clients } from '../spec.js';
import type { BenchCase } from './context.js';
import { lockInProcess, SESSION_TTL_S } from './lock.js';

/** Our Semaphore: `n` contenders in this process for `permits` permits, critical section in memory. */
export function semaphoreInProcess(n: number, permits: number, clients: Clients = 'shared'): BenchCase {
  return lockInProcess({
    spec: { bench: 'semaphore', impl: 'etcd-concurrency', n, mode: 'in-process', clients, cs: 'mem' },
    capacity: permits,
    client: 'ours',
    make: (client, name, who) => semaphoreContender(client, name, who, SESSION_TTL_S, permits),
    // The bare key `name` holds the permits and stays by design; the contenders are under `name/`.
    ownKeys: (name) => `${name}/`,
  });
}
