import { now } from '../clock.js';
import { createClient } from '../lib.js';
import { RingNode } from '../ring-node.js';
import type { Outcome } from '../result.js';
import { inBatches, openWindow } from '../window.js';
import type { WorkerProcess } from '../workers/process.js';
import { type BenchCase, type CaseContext, REPLY_TIMEOUT_MS } from './context.js';
import { sweep } from './sweep.js';

/** The ring also ends if the token got lost (an error): no case waits forever. */
const RING_GRACE_MS = 10_000;

/**
 * The raw put→watch ring between `n` clients in this process, each with its own etcd connection.
 * `secondWrite`: each node also writes a key of its own after passing the token (bench `ring-2w`).
 */
export function ringInProcess(n: number, secondWrite = false): BenchCase {
  return {
    bench: secondWrite ? 'ring-2w' : 'ring',
    impl: 'raw-ring',
    n,
    mode: 'in-process',
    clients: 'own',
    cs: 'none',
    async run(ctx: CaseContext): Promise<Outcome> {
      const clients = Array.from({ length: n }, () => createClient({ endpoints: ctx.endpoints }));
      let halt!: () => void;
      const halted = new Promise<void>((resolve) => (halt = resolve));
      const nodes = clients.map((client, i) => new RingNode(client, ctx.prefix, i, n, halt, secondWrite));
      try {
        await inBatches(n, 32, (i) => nodes[i]!.open());
        const window = await openWindow(ctx.endpoints);
        const stopAt = window.startedAt + ctx.durationMs;
        for (const node of nodes.slice(1)) node.runUntil(stopAt);
        nodes[0]!.start(stopAt);
        await Promise.race([halted, new Promise((r) => setTimeout(r, ctx.durationMs + RING_GRACE_MS))]);
        const stats = await window.close();
        return {
          window: stats,
          ring: {
            handoffs: nodes.flatMap((x) => x.handoffs),
            cycles: nodes.flatMap((x) => x.cycles),
            perNode: nodes.map((x) => x.received),
          },
          errors: nodes.reduce((s, x) => s + x.errors, 0),
          firstError: nodes.find((x) => x.firstError)?.firstError,
        };
      } finally {
        await Promise.allSettled(nodes.map((x) => x.close()));
        for (const c of clients) c.close();
        await sweep(ctx.endpoints, ctx.prefix, ctx.prefix);
      }
    },
  };
}

/** The same ring between `n` worker processes, a client each (after an unmeasured warm-up ring). */
export function ringMultiProcess(n: number): BenchCase {
  return {
    bench: 'ring',
    impl: 'raw-ring',
    n,
    mode: 'multi-process',
    clients: 'own',
    cs: 'none',
    async run(ctx: CaseContext): Promise<Outcome> {
      const workers = await ctx.workers(n);
      if (ctx.warmupMs > 0) await ringOnce(ctx, workers, `${ctx.prefix}warm/`, ctx.warmupMs, false);
      return ringOnce(ctx, workers, ctx.prefix, ctx.durationMs, true);
    },
  };
}

async function ringOnce(
  ctx: CaseContext,
  workers: WorkerProcess[],
  prefix: string,
  durationMs: number,
  measure: boolean,
): Promise<Outcome> {
  const n = workers.length;
  try {
    await Promise.all(
      workers.map((w, index) =>
        w.request(
          { type: 'prepare', role: { kind: 'ring', endpoints: ctx.endpoints, prefix, index, n } },
          'ready',
          REPLY_TIMEOUT_MS,
        ),
      ),
    );
    const window = measure ? await openWindow(ctx.endpoints) : undefined;
    const stopAt = now() + durationMs;
    const anyHalted = Promise.any(workers.map((w) => w.expect('halted', durationMs + RING_GRACE_MS)));
    // Node 0 puts the first token: tell the others first so that they know the stop time.
    for (const w of [...workers.slice(1), workers[0]!]) w.send({ type: 'go', stopAt });
    await anyHalted.catch(() => undefined);
    for (const w of workers) w.forget('halted');
    const reports = await Promise.all(
      workers.map((w) => w.request({ type: 'halt' }, 'done', REPLY_TIMEOUT_MS)),
    );
    const stats = window
      ? await window.close()
      : { counters: undefined, elapsedMs: durationMs, clientCpuMs: 0, loopDelayP99Ms: 0 };
    return {
      window: stats,
      ring: {
        handoffs: reports.flatMap((r) => r.report.ringHandoffs),
        cycles: reports.flatMap((r) => r.report.ringCycles),
        perNode: reports.map((r) => r.report.ringHandoffs.length),
      },
      workerCpuMs: reports.reduce((s, r) => s + r.report.cpuMs, 0),
      workerLoopDelayP99Ms: Math.max(...reports.map((r) => r.report.loopDelayP99Ms)),
      errors: reports.reduce((s, r) => s + r.report.errors, 0),
      firstError: reports.find((r) => r.report.firstError)?.report.firstError,
    };
  } finally {
    await Promise.allSettled(workers.map((w) => w.request({ type: 'cleanup' }, 'cleaned', REPLY_TIMEOUT_MS)));
    await sweep(ctx.endpoints, prefix, prefix);
  }
}
