import type { Etcd3 } from 'etcd3';
import { Mutex, Session } from '../lib.js';
import type { Contender } from '../contender.js';

/** Our Mutex: one session per contender on a shared (or own) client; writes guarded by `hold.txn()`. */
export async function mutexContender(
  client: Etcd3,
  name: string,
  who: string,
  ttl: number,
): Promise<Contender> {
  const session = await Session.create(client, { ttl });
  const mutex = new Mutex(session, name, { value: who });
  return {
    who,
    async acquire(signal) {
      const hold = await mutex.lock({ signal });
      return {
        ticket: hold.fencingToken,
        write: async (key, value) => (await hold.txn().then(client.put(key).value(value)).commit()).succeeded,
        release: () => hold.release(),
      };
    },
    close: () => session.close(),
  };
}
