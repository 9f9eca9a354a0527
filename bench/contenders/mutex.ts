import type { Etcd3 } from 'etcd3';
import { type Hold, Mutex, RWMutex, Session } from '../lib.js';
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
      return guarded(client, hold);
    },
    close: () => session.close(),
  };
}

/**
 * Our Mutex on a new name every cycle (a lock per job, per file): a `new Mutex` each time, so
 * nothing learnt about one name helps the next.
 */
export async function freshMutexContender(
  client: Etcd3,
  name: string,
  who: string,
  ttl: number,
): Promise<Contender> {
  const session = await Session.create(client, { ttl });
  let cycle = 0;
  return {
    who,
    async acquire(signal) {
      const mutex = new Mutex(session, `${name}/${who}-${++cycle}`, { value: who });
      const hold = await mutex.lock({ signal });
      return guarded(client, hold);
    },
    close: () => session.close(),
  };
}

/** Our RWMutex: a writer (`lock`) or a reader (`rLock`), one session each. */
export async function rwMutexContender(
  client: Etcd3,
  name: string,
  who: string,
  ttl: number,
  writer: boolean,
): Promise<Contender> {
  const session = await Session.create(client, { ttl });
  const rw = new RWMutex(session, name, { value: who });
  return {
    who,
    writer,
    async acquire(signal) {
      const hold = writer ? await rw.lock({ signal }) : await rw.rLock({ signal });
      return {
        ticket: hold.fencingToken,
        write: () => Promise.reject(new Error('the rwmutex case has no txn critical section')),
        release: () => hold.release(),
      };
    },
    close: () => session.close(),
  };
}

/** A held Mutex as the bench sees it: its fencing token, a write guarded by `hold.txn()`, release. */
function guarded(client: Etcd3, hold: Hold): Awaited<ReturnType<Contender['acquire']>> {
  return {
    ticket: hold.fencingToken,
    write: async (key, value) => (await hold.txn().then(client.put(key).value(value)).commit()).succeeded,
    release: () => hold.release(),
  };
}
