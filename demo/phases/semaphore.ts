import type { Context } from '../main.js';
import type { WorkerEvent } from '../protocol.js';
import { bold, dim, Timeline } from '../timeline.js';
import { within } from '../wait.js';
import { startWorkers } from '../workers.js';

export interface SemaphoreResult {
  ok: boolean;
  summary: string;
}

type JobEvent = Extract<WorkerEvent, { event: 'job-start' | 'job-end' }>;

/**
 * Worker processes each start several jobs at once, but a Semaphore lets only `permits` of them
 * run at a time across all processes. The timeline shows how many run; the check afterwards
 * computes the peak from the workers' own clocks.
 */
export async function semaphorePhase(ctx: Context): Promise<SemaphoreResult> {
  const count = 3;
  const jobs = ctx.quick ? 2 : 3;
  const permits = 2;
  const jobMs = ctx.quick ? 200 : 300;
  const name = `${ctx.prefix}semaphore`;
  console.log(
    bold(
      `3. Semaphore — ${count} worker processes start ${jobs} jobs each; "${name}" has ${permits} permits`,
    ),
  );
  const workers = await within(
    startWorkers(count, 'semaphore', (id) => ({ id, name, ttl: 5, permits, jobs, jobMs }), ctx.endpoints),
    20_000,
    'the semaphore workers to connect',
    ctx.signal,
  );
  console.log(dim(`   ${workers.map((w) => `${w.id} pid ${w.pid ?? '?'}`).join(', ')}: ready; go!`));
  let running = 0;
  let peak = 0;
  const timeline = new Timeline<JobEvent>(Date.now(), (e, at) => {
    running += e.event === 'job-start' ? 1 : -1;
    peak = Math.max(peak, running);
    const bar = `${'■'.repeat(running)}${'□'.repeat(Math.max(0, permits - running))}`;
    return e.event === 'job-start'
      ? `   ${at}  ${e.worker} job ${e.job} starts  ${bar} ${running}/${permits} running`
      : dim(`   ${at}  ${e.worker} job ${e.job} ends    ${bar} ${running}/${permits} running`);
  });
  let started = 0;
  for (const w of workers) {
    w.onEvent((e) => {
      if (e.event === 'job-start' || e.event === 'job-end') {
        if (e.event === 'job-start') started++;
        timeline.push(e);
      }
    });
    w.go();
  }
  try {
    const codes = await within(
      Promise.all(workers.map((w) => w.exited)),
      20_000,
      'the semaphore workers to finish',
      ctx.signal,
    );
    if (codes.some((c) => c !== 0))
      throw new Error(`a semaphore worker failed (exit statuses ${codes.join(', ')})`);
  } finally {
    timeline.close();
  }
  const expected = count * jobs;
  const ok = started === expected && peak <= permits && peak > 0;
  const summary = `${started}/${expected} jobs from ${count} processes, at most ${peak} running at once (${permits} permits)`;
  console.log(`   ${summary}`);
  return { ok, summary };
}
