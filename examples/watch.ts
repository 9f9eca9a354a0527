/**
 * Watching from a revision: a watcher started at an earlier revision first replays what happened
 * since (puts and deletes, in order, each with its revision), then streams new events live.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/watch.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { IKeyValue } from 'etcd3';
import { createClient } from '../src/index.js'; // in your project: from 'etcd-concurrency'

const client = createClient();
const prefix = `examples/watch/${process.pid}/`;

// History first: three changes before anyone watches.
const start = await client.put(`${prefix}a`).value('1').exec();
await client.put(`${prefix}b`).value('2');
await client.delete().key(`${prefix}a`);
const startRevision = start.header.revision;
console.log(`made 3 changes; watching ${prefix} from revision ${startRevision}`);

const watcher = await client
  .watch()
  .prefix(prefix)
  .startRevision(startRevision) // inclusive: the put at this revision is replayed too
  .create();
let seen = 0;
const fiveEvents = new Promise<void>((resolve) => {
  const show = (type: 'put' | 'delete', kv: IKeyValue) => {
    const key = kv.key.toString().slice(prefix.length);
    const shown = type === 'put' ? `${key}=${kv.value.toString()}` : key;
    console.log(`  ${type.padEnd(6)} ${shown.padEnd(4)} at revision ${kv.mod_revision}`);
    if (++seen === 5) resolve();
  };
  watcher.on('put', (kv) => {
    show('put', kv);
  });
  // A delete event's kv carries the key and, as mod_revision, the revision of the delete.
  watcher.on('delete', (kv) => {
    show('delete', kv);
  });
});

// Live events after the replay.
await sleep(200);
await client.put(`${prefix}c`).value('3');
await client.delete().key(`${prefix}b`);
await fiveEvents;
await watcher.cancel();
console.log(`saw ${seen} events: 3 replayed from history, 2 live`);
await client.delete().prefix(prefix);
client.close();
