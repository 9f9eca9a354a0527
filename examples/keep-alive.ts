/**
 * Keep-alive: a Session grants a lease and renews it in the background, so keys attached to it
 * outlive the TTL for as long as the process runs — and vanish soon after it stops renewing.
 * `keepAlive$` reports each renewal and `state$` says whether the lease is safe to rely on.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/keep-alive.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, Session } from '../src/index.js'; // in your project: from 'etcd-concurrency'

const client = createClient();
const key = `examples/keep-alive/${process.pid}/worker`;

const session = await Session.create(client, { ttl: 2 });
console.log(`session lease ${BigInt(session.leaseId).toString(16)}, TTL ${session.ttl} s`);
let renewals = 0;
const renewing = session.keepAlive$.subscribe(() => renewals++);
const states = session.state$.subscribe((state) => {
  console.log(`  session is ${state}`);
});

await client.put(key).value('busy').lease(session.leaseId);
await sleep(4000); // twice the TTL
console.log(
  `after 4 s (2 × TTL): ${renewals >= 3 ? 'renewed several times' : `only ${renewals} renewals`}; key still there: ${(await client.get(key).string()) === 'busy'}`,
);

// Closing revokes the lease: its keys go at once. (orphan() would let them expire after the TTL.)
await session.close();
console.log(`closed; key still there: ${(await client.get(key).string()) !== null}`);
renewing.unsubscribe();
states.unsubscribe();
client.close();
