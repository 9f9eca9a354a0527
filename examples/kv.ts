/**
 * Put, get and delete, as etcd's Go tutorials start: a put that returns the previous value, a
 * prefix read, a count-only read (etcd counts, no values travel), and a delete that returns
 * what it deleted. Plain etcd3 calls on a client from `createClient`.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/kv.ts
 */
import { createClient } from '../src/index.js'; // in your project: from 'etcd-concurrency'

const client = createClient(); // endpoints from ETCD_ENDPOINTS, else 127.0.0.1:2379
const prefix = `examples/kv/${process.pid}/`;

// A put answers with the revision it created; getPrevious() also returns the value it replaced.
const first = await client.put(`${prefix}color`).value('red').exec();
console.log(`put color=red at revision ${first.header.revision}`);
const previous = await client.put(`${prefix}color`).value('blue').getPrevious();
console.log(`put color=blue, previous value: ${previous.value.toString()}`);

// Get one key as a string, or every key under a prefix.
console.log(`get color -> ${await client.get(`${prefix}color`).string()}`);
await client.put(`${prefix}size`).value('XL');
await client.put(`${prefix}shape`).value('round');
const all = await client.getAll().prefix(prefix).strings();
console.log(
  `get --prefix -> ${Object.entries(all)
    .map(([k, v]) => `${k.slice(prefix.length)}=${v}`)
    .join(', ')}`,
);

// A count-only read: etcd returns the number of keys, not the keys.
console.log(`count under prefix: ${await client.getAll().prefix(prefix).count()}`);

// Delete returns what it deleted with getPrevious().
const deleted = await client.delete().key(`${prefix}color`).getPrevious();
console.log(
  `deleted ${deleted.map((kv) => `${kv.key.toString().slice(prefix.length)}=${kv.value.toString()}`).join(', ')}`,
);
console.log(`get color after delete -> ${String(await client.get(`${prefix}color`).string())}`);

const removed = await client.delete().prefix(prefix).exec();
console.log(
  `deleted ${removed.deleted} more keys; count now ${await client.getAll().prefix(prefix).count()}`,
);
client.close();
