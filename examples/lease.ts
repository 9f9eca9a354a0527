/**
 * A lease with a TTL: a key attached to it lives only as long as the lease. Nobody renews this
 * one, so etcd expires it after its TTL and deletes the key — the basis of every lock and
 * election in this library (a crashed holder's keys vanish on their own).
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/lease.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from '../src/index.js'; // in your project: from 'etcd-concurrency'

const client = createClient();
const key = `examples/lease/${process.pid}/heartbeat`;

// Grant a 2-second lease (etcd's minimum is about 1.5× its election timeout, often 2 s).
const grant = await client.leaseClient.leaseGrant({ TTL: 2 });
console.log(`granted lease ${BigInt(grant.ID).toString(16)} with TTL ${grant.TTL} s`);

await client.put(key).value('alive').lease(grant.ID);
const ttl = await client.leaseClient.leaseTimeToLive({ ID: grant.ID, keys: true });
console.log(`key attached; lease has ${ttl.TTL} s left and ${ttl.keys.length} key(s)`);
console.log(`get -> ${String(await client.get(key).string())}`);

// Wait past the TTL without renewing: etcd revokes the lease and deletes its keys.
const began = Date.now();
while ((await client.get(key).string()) !== null) await sleep(100);
console.log(`lease expired after about ${Math.round((Date.now() - began) / 1000)} s; get -> null`);
const after = await client.leaseClient.leaseTimeToLive({ ID: grant.ID });
console.log(`lease TTL now ${after.TTL} (-1: it no longer exists)`);
client.close();
