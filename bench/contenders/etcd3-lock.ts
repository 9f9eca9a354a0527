import { type Etcd3, EtcdLockFailedError } from 'etcd3';
import pRetry, { AbortError } from 'p-retry';
import type { Contender } from '../contender.js';

/**
 * What a typical user writes with etcd3 npm: its try-only `client.lock(name).acquire()` wrapped
 * in p-retry with exponential backoff and jitter (10 ms doubling to at most 500 ms). Generous to
 * etcd3: p-retry's defaults (1 s first delay, 10 retries) would be far slower and give up under
 * contention. The write in the critical section is a plain put: etcd3's Lock has no guarded txn.
 */
export const ETCD3_RETRY = {
  retries: Number.POSITIVE_INFINITY,
  factor: 2,
  minTimeout: 10,
  maxTimeout: 500,
  randomize: true,
} as const;

export function etcd3LockContender(client: Etcd3, name: string, who: string, fresh = false): Contender {
  let cycle = 0;
  return {
    who,
    async acquire(signal) {
      const lockKey = fresh ? `${name}/${who}-${++cycle}` : name;
      const lock = await pRetry(
        async () => {
          // Checked before each attempt instead of passing the signal to p-retry: an attempt cut
          // off mid-flight could still take the lock and leave it held for the lease's 30 s.
          if (signal.aborted) throw new AbortError('the case is over');
          return client.lock(lockKey).acquire();
        },
        { ...ETCD3_RETRY, shouldRetry: ({ error }) => error instanceof EtcdLockFailedError },
      );
      return {
        write: async (key, value) => {
          await client.put(key).value(value);
          return true;
        },
        release: () => lock.release(),
      };
    },
    close: () => Promise.resolve(),
  };
}
