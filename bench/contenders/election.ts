import type { Etcd3 } from 'etcd3';
import { Election, Session } from '../lib.js';
import type { Contender } from '../contender.js';

/** Our Election as a lock: campaign resolves = acquired, resign = release (graceful handoff). */
export async function electionContender(
  client: Etcd3,
  name: string,
  who: string,
  ttl: number,
): Promise<Contender> {
  const session = await Session.create(client, { ttl });
  const election = new Election(session, name);
  return {
    who,
    async acquire(signal) {
      const hold = await election.campaign(who, { signal });
      return {
        ticket: hold.fencingToken,
        write: () => Promise.reject(new Error('the election case has no txn critical section')),
        release: () => election.resign(),
      };
    },
    close: () => session.close(),
  };
}
