/**
 * The classic etcd transaction "try lock": IF the key's create revision is 0 (it does not exist)
 * THEN put it with my lease ELSE get it — one atomic round trip that either takes the lock or
 * says who holds it. The holder's lease makes the lock go away if the holder dies.
 * (Mutex does this and more: FIFO waiting, fencing tokens, Go/etcdctl compatibility.)
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/txn-try-lock.ts
 */
import type { Etcd3 } from 'etcd3';
import { createClient } from '../src/index.js'; // in your project: from 'etcd-concurrency'

const client = createClient();
const key = `examples/txn-try-lock/${process.pid}/lock`;

async function tryLock(etcd: Etcd3, me: string, leaseId: string): Promise<boolean> {
  const result = await etcd
    .if(key, 'Create', '==', 0)
    .then(etcd.put(key).value(me).lease(leaseId))
    .else(etcd.get(key))
    .commit();
  if (result.succeeded) {
    console.log(`${me}: got the lock at revision ${result.header.revision}`);
    return true;
  }
  const holder = result.responses[0]?.response_range?.kvs[0];
  console.log(
    `${me}: lock is held by ${holder?.value.toString() ?? '?'} (lease ${BigInt(holder?.lease ?? 0).toString(16)}, since revision ${holder?.create_revision ?? '?'})`,
  );
  return false;
}

const alice = await client.leaseClient.leaseGrant({ TTL: 10 });
const bob = await client.leaseClient.leaseGrant({ TTL: 10 });

await tryLock(client, 'alice', alice.ID);
await tryLock(client, 'bob', bob.ID);

// alice is done: revoking her lease deletes the key, and bob's next try succeeds.
await client.leaseClient.leaseRevoke({ ID: alice.ID });
console.log('alice: released (lease revoked)');
await tryLock(client, 'bob', bob.ID);

await client.leaseClient.leaseRevoke({ ID: bob.ID });
client.close();
