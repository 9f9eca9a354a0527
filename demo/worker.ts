/**
 * One demo worker process: `tsx demo/worker.ts <mutex|elect|semaphore> <json options>`.
 *
 * It connects (ETCD_ENDPOINTS), creates its session, says `ready`, waits for `go` on stdin so that
 * all workers start contending at once, then plays its part and reports each step as one JSON line
 * on stdout (see {@link WorkerEvent}). SIGTERM or SIGINT end it gracefully (release, resign, close
 * the session); SIGKILL, which the demo uses on a leader, ends it without any cleanup.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, Election, Mutex, Semaphore, Session } from '../src/index.js';
import type { WorkerEvent, WorkerReport, WorkerTask } from './protocol.js';

const [mode, json] = process.argv.slice(2);
const task = JSON.parse(json ?? '{}') as WorkerTask;
const me = task.id;

function report(event: WorkerReport): void {
  const line: WorkerEvent = { worker: me, t: Date.now(), ...event };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const stopping = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    stopping.abort(new Error(`stopped by ${signal}`));
  });
}

/** Resolves on the parent's `go` line (or rejects when the worker is stopped first). */
function go(): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  return new Promise<void>((resolve, reject) => {
    lines.once('line', () => {
      lines.close();
      process.stdin.destroy(); // an open stdin would keep the worker alive after its part
      resolve();
    });
    stopping.signal.addEventListener('abort', () => {
      lines.close();
      reject(stopping.signal.reason as Error);
    });
  });
}

const client = createClient();
const session = await Session.create(client, { ttl: task.ttl });
try {
  report({ event: 'ready', pid: process.pid, leaseId: session.leaseId });
  await go();
  if (mode === 'mutex') await mutexTurns();
  else if (mode === 'elect') await campaign();
  else if (mode === 'semaphore') await semaphoreJobs();
  else throw new Error(`unknown mode ${String(mode)}`);
} catch (err) {
  if (!stopping.signal.aborted) {
    report({ event: 'error', message: err instanceof Error ? err.message : String(err) });
    process.exitCode = 1;
  }
} finally {
  await session.close().catch(() => {
    session.orphan();
  });
  client.close();
}

/** Take the mutex `turns` times, holding it for `holdMs` each time. */
async function mutexTurns(): Promise<void> {
  const mutex = new Mutex(session, task.name, { value: me });
  for (let turn = 1; turn <= (task.turns ?? 1); turn++) {
    const hold = await mutex.lock({ signal: stopping.signal });
    report({ event: 'acquired', token: hold.fencingToken.toString(), turn });
    await sleep(task.holdMs ?? 100);
    report({ event: 'releasing', token: hold.fencingToken.toString(), turn });
    await hold.release();
    // A short pause between turns lets the others' queued keys go first (FIFO).
    await sleep(10 + Math.random() * 30);
  }
}

/** Campaign; once leader, lead until stopped, then resign (a SIGKILL skips that, on purpose). */
async function campaign(): Promise<void> {
  const election = new Election(session, task.name);
  const hold = await election.campaign(me, { signal: stopping.signal });
  report({ event: 'leader', token: hold.fencingToken.toString() });
  await new Promise<void>((resolve) => {
    stopping.signal.addEventListener('abort', () => {
      resolve();
    });
    hold.signal.addEventListener('abort', () => {
      resolve();
    });
  });
  await election.resign();
  report({ event: 'resigned', token: hold.fencingToken.toString() });
}

/** Run `jobs` jobs at once; each needs one of the semaphore's permits for `jobMs`. */
async function semaphoreJobs(): Promise<void> {
  const semaphore = new Semaphore(session, task.name, { permits: task.permits ?? 1, value: me });
  const job = async (n: number) => {
    // Job n of every worker asks at about the same time, so the queue interleaves the workers.
    await sleep((n - 1) * 60);
    const permit = await semaphore.acquire({ signal: stopping.signal, value: `${me} job ${n}` });
    report({ event: 'job-start', job: n, token: permit.fencingToken.toString() });
    await sleep(task.jobMs ?? 200);
    report({ event: 'job-end', job: n, token: permit.fencingToken.toString() });
    await permit.release();
  };
  await Promise.all(Array.from({ length: task.jobs ?? 1 }, (_, i) => job(i + 1)));
}
