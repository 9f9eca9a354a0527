/**
 * A job pool limited by a semaphore: 3 "GPUs" shared by 8 jobs in two worker processes' worth of
 * sessions. Big jobs take 2 GPUs at once; jobs start in the order their requests reached etcd (a
 * big job at the head is not overtaken by small ones behind it), and never more than 3 GPUs are
 * in use.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/semaphore-pool.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, Semaphore, Session } from '../src/index.js';

const client = createClient();
const name = `examples/semaphore-pool/${process.pid}`;
const jobs = [
  { id: 'job-1', gpus: 1 },
  { id: 'job-2', gpus: 2 },
  { id: 'job-3', gpus: 1 },
  { id: 'job-4', gpus: 2 },
  { id: 'job-5', gpus: 1 },
  { id: 'job-6', gpus: 1 },
  { id: 'job-7', gpus: 2 },
  { id: 'job-8', gpus: 1 },
];

// Two workers, each with its own session (its own lease): if a worker dies, its permits come
// back when its lease expires.
const sessions = await Promise.all([1, 2].map(() => Session.create(client, { ttl: 5 })));
const pool = (worker: number) =>
  new Semaphore(sessions[worker]!, name, { permits: 3, value: `worker-${worker + 1}` });

const watcher = pool(0).holders$.subscribe((holders) => {
  const used = holders.reduce((sum, h) => sum + h.weight, 0);
  console.log(`  in use ${used}/3:`, holders.map((h) => `${h.value}(${h.weight})`).join(' ') || '-');
});

async function run(job: { id: string; gpus: number }, worker: number): Promise<void> {
  const semaphore = pool(worker);
  // Give up if the job cannot start within a minute; the wait leaves no key behind.
  await using permit = await semaphore.acquire({
    weight: job.gpus,
    value: job.id,
    signal: AbortSignal.timeout(60_000),
  });
  console.log(`${job.id} starts on ${job.gpus} GPU(s), fencing token ${permit.fencingToken}`);
  // Real work would watch permit.signal (aborts if the permit is lost) and guard its writes with
  // permit.txn() or the fencing token.
  await sleep(150 + 50 * job.gpus, undefined, { signal: permit.signal });
  console.log(`${job.id} done`);
} // `await using` releases the permit here, also when the job throws

// Ask roughly in order; the queue order is the order the requests reached etcd (the fencing
// tokens), and jobs start in exactly that order.
const running: Promise<void>[] = [];
for (const [i, job] of jobs.entries()) {
  running.push(run(job, i % 2));
  await sleep(20);
}
await Promise.all(running);
watcher.unsubscribe();
await Promise.all(sessions.map((s) => s.close()));
await client.delete().key(name); // the library never deletes the permits key; this demo tidies up
client.close();
