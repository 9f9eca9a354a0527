/**
 * A worker process of the crash test: takes jobs at least once from the queue named in argv[2],
 * on a session with TTL argv[3] seconds, "works" argv[4] ms on each, and reports every step on
 * stdout with a timestamp. SIGTERM stops it cleanly; the test SIGKILLs some of them mid-job.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, Queue, Session } from '../../src/index.js';

const [name, ttl, workMs] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])];
const client = createClient();
const session = await Session.create(client, { ttl });
const queue = new Queue(client, name);
const stop = new AbortController();
process.once('SIGTERM', () => {
  stop.abort(new Error('stopping'));
});
console.log(`ready ${process.pid}`);
try {
  for (;;) {
    const claim = await queue.take({ session, signal: stop.signal });
    console.log(`took ${claim.value} at ${Date.now()}`);
    await sleep(workMs);
    console.log(`done ${claim.value}`);
    await claim.done();
    console.log(`acked ${claim.value}`);
  }
} catch (err) {
  if (!stop.signal.aborted) throw err;
}
await session.close();
client.close();
