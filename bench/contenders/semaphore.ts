import type { Etcd3 } from 'etcd3';
import { Semaphore, Session } from '../lib.js';
import type { Contender } from '../contender.js';

/** Our Semaphore: one session per contender, weight 1. */
export async function semaphoreContender(
  client: Etcd3,
  name: string,
  who: string,
  ttl: number,
  permits: number,
): Promise<Contender> {
  const session = await Session.create(client, { ttl });
  const semaphore = new Semaphore(session, name, { permits });
  return {
    who,
    async acquire(signal) {
      const permit = await semaphore.acquire({ signal });
      return {
        ticket: permit.fencingToken,
        write: () => Promise.reject(new Error('the semaphore case has no txn critical section')),
        release: async () => {
          await permit.release();
        },
      };
    },
    close: () => session.close(),
  };
}
