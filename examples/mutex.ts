/**
 * Two sessions contend for one Mutex. The second waits (woken by a watch event, no polling) until
 * the first releases; each holder gets a fencing token that only grows, and guards its write with
 * hold.txn(), which commits only while it still holds the lock. tryLock() says who holds it.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/mutex.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, LockedError, Mutex, Session } from '../src/index.js'; // in your project: from 'etcd-concurrency'

const client = createClient();
const name = `examples/mutex/${process.pid}/job`;
const started = Date.now();
const t = () => `+${((Date.now() - started) / 1000).toFixed(2)}s`;

// One session per worker: a session is one lease, and exclusion is between sessions.
const [alice, bob] = await Promise.all([
  Session.create(client, { ttl: 5 }),
  Session.create(client, { ttl: 5 }),
]);

async function work(session: Session, who: string): Promise<void> {
  const mutex = new Mutex(session, name, { value: who });
  await using hold = await mutex.lock({ signal: AbortSignal.timeout(10_000) });
  console.log(`${t()} ${who} holds the lock, fencing token ${hold.fencingToken}`);
  const write = await hold
    .txn()
    .then(client.put(`${name}-owner`).value(who))
    .commit();
  console.log(`${t()} ${who} wrote under the lock: ${write.succeeded ? 'committed' : 'refused (lock lost)'}`);
  await sleep(500);
  console.log(`${t()} ${who} releases`);
} // `await using` releases here

const first = work(alice, 'alice');
await sleep(100);
try {
  await new Mutex(bob, name, { value: 'bob' }).tryLock();
} catch (err) {
  if (!(err instanceof LockedError)) throw err;
  console.log(`${t()} bob's tryLock: ${err.message}`);
}
console.log(`${t()} bob waits`);
await Promise.all([first, work(bob, 'bob')]);

await Promise.all([alice.close(), bob.close()]);
await client.delete().key(`${name}-owner`);
client.close();
