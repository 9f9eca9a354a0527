/**
 * A job pool of worker processes on an at-least-once Queue. The parent enqueues 12 jobs and
 * starts 3 worker processes; each takes jobs with a claim on its session's lease and calls
 * claim.done() when a job is finished. The parent SIGKILLs one worker in the middle of a job:
 * its lease expires (TTL 2 s), a live worker puts the job back, and it is done by another
 * worker. Every job is done; only the killed worker's job is done twice at most.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/job-pool.ts
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createClient, Queue, Session } from '../src/index.js';

if (process.argv[2] === 'worker') {
  // ---- a worker process: take, work, done; stop on SIGTERM ----
  const queueName = process.argv[3]!;
  const client = createClient();
  const session = await Session.create(client, { ttl: 2 });
  const queue = new Queue(client, queueName);
  const stop = new AbortController();
  process.once('SIGTERM', () => {
    stop.abort(new Error('stop'));
  });
  console.log('ready');
  try {
    for (;;) {
      const claim = await queue.take({ session, signal: stop.signal });
      console.log(`took ${claim.value}`);
      await sleep(200); // the work; real work would also watch claim.signal
      await claim.done(); // rejects if the claim was lost meanwhile: the job may be done twice
      console.log(`finished ${claim.value}`);
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  }
  await session.close();
  client.close();
} else {
  // ---- the parent: enqueue, start workers, kill one mid-job, wait until all jobs are done ----
  const name = `examples/job-pool/${process.pid}/jobs`;
  const client = createClient();
  const queue = new Queue(client, name);
  const jobs = Array.from({ length: 12 }, (_, i) => `job-${String(i + 1).padStart(2, '0')}`);
  const finished = new Map<string, number>();
  let allDone: () => void = () => undefined;
  const everything = new Promise<void>((resolve) => (allDone = resolve));
  const ready: Promise<void>[] = [];
  const heldByDead = new Set<string>();
  let onKilled: (job: string) => void = () => undefined;
  const killed = new Promise<string>((resolve) => (onKilled = resolve));

  const workers = [1, 2, 3].map((n) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), 'worker', name],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let onReady: () => void = () => undefined;
    ready.push(new Promise((resolve) => (onReady = resolve)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const [verb, job] = line.split(' ');
      if (verb === 'ready') onReady();
      if (verb === 'took') {
        console.log(`worker ${n} took ${job}${heldByDead.has(job!) ? ' (delivered again)' : ''}`);
        if (n === 1 && heldByDead.size === 0) {
          // Kill worker 1 by PID in the middle of its first job.
          child.kill('SIGKILL');
          heldByDead.add(job!);
          onKilled(job!);
        }
      }
      if (verb === 'finished') {
        finished.set(job!, (finished.get(job!) ?? 0) + 1);
        if (jobs.every((j) => finished.has(j))) allDone();
      }
    });
    return { n, child };
  });

  await Promise.all(ready);
  for (const job of jobs) await queue.enqueue(job);

  const killedJob = await killed;
  console.log(`killed worker 1 while it held ${killedJob}; its lease expires in at most 2 s`);

  await everything;
  for (const { child } of workers.slice(1)) child.kill('SIGTERM');
  await Promise.all(
    workers.map(
      ({ child }) =>
        new Promise((r) =>
          child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r),
        ),
    ),
  );

  console.log(
    `all ${jobs.length} jobs done; ${killedJob} was finished ${finished.get(killedJob)} time(s) after the crash`,
  );
  const left =
    (await client.getAll().prefix(name).keys()).length +
    (
      await client
        .getAll()
        .prefix(`__etcd-concurrency/claims/${encodeURIComponent(name)}/`)
        .keys()
    ).length;
  console.log(`keys left in etcd: ${left}`);
  client.close();
}
