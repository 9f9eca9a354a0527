/**
 * A process that leads an election forever, for the pause test in lead.test.ts:
 * `node --import tsx test/election/lead-worker.ts <election> <log prefix> <ttl>`.
 * Each term writes `<log prefix><term>/<seq>` every 100 ms, guarded by the hold, and prints
 * START/FENCED/END lines; SIGTERM stops the loop (prints STOPPED, exits 0).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, Election, Session } from '../../src/index.js';

const [name, log, ttl] = process.argv.slice(2);
if (!name || !log || !ttl) throw new Error('usage: lead-worker.ts <election> <log prefix> <ttl>');
const client = createClient();
const session = await Session.create(client, { ttl: Number(ttl) });
const stop = new AbortController();
process.on('SIGTERM', () => {
  stop.abort(new Error('SIGTERM'));
});
await new Election(session, name).lead(
  async (signal, hold) => {
    console.log(`START ${hold.fencingToken}`);
    for (let seq = 0; !signal.aborted; seq++) {
      const res = await hold
        .txn()
        .then(client.put(`${log}${hold.fencingToken}/${seq}`).value('child'))
        .commit()
        .catch(() => undefined);
      if (res && !res.succeeded) console.log(`FENCED ${hold.fencingToken}`);
      await sleep(100, undefined, { signal }).catch(() => undefined);
    }
    console.log(`END ${hold.fencingToken} ${(signal.reason as Error).name}`);
  },
  {
    signal: stop.signal,
    value: 'child',
    onError: (err) => {
      console.log(`ERROR ${(err as Error).message}`);
    },
  },
);
await session.close().catch(() => undefined);
client.close();
console.log('STOPPED');
