/**
 * Leader election among workers. Three workers campaign; the leader does a few rounds of work,
 * writing only through its guarded transaction, then resigns, and the next worker leads at once.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/leader-election.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, Election, Session } from '../src/index.js';

const client = createClient();
const name = `examples/leader-election/${process.pid}`;

async function worker(id: string): Promise<void> {
  await using session = await Session.create(client, { ttl: 5 });
  const election = new Election(session, name);
  const hold = await election.campaign(id); // waits until this worker leads
  console.log(`${id} leads, term ${hold.fencingToken}`);
  for (let round = 1; round <= 3 && !hold.signal.aborted; round++) {
    // Commits only while this worker still leads, whatever a pause may have cost it.
    const write = client.put(`${name}-state`).value(`${id} round ${round}`);
    if (!(await hold.txn().then(write).commit()).succeeded) break;
    await election.proclaim(`${id}, round ${round}`);
    await sleep(200);
  }
  await election.resign();
}

const observer = Election.observe(client, name).subscribe((leader) => {
  console.log('  observed:', leader ? leader.value : 'no leader');
});
await Promise.all(['worker-1', 'worker-2', 'worker-3'].map(worker));
await sleep(100);
observer.unsubscribe();
await client.delete().key(`${name}-state`);
client.close();
