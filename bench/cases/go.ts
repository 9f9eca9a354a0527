import { now } from '../clock.js';
import { GoProcess } from '../go/process.js';
import type { Outcome } from '../result.js';
import type { Mode } from '../spec.js';
import { openWindow } from '../window.js';
import { type BenchCase, type CaseContext, CaseSkipped, REPLY_TIMEOUT_MS } from './context.js';
import { SESSION_TTL_S } from './lock.js';
import { sweep } from './sweep.js';

/** The Go contender's binary, or a skip that says why there is none. */
export async function goBinary(ctx: CaseContext): Promise<string> {
  const build = await ctx.go();
  if ('unavailable' in build) throw new CaseSkipped(build.unavailable);
  return build.binary;
}

/**
 * Go's `concurrency.Mutex`, each contender with its own `clientv3.Client` and `Session`:
 * `in-process` runs them as goroutines of one Go process, `multi-process` as `n` Go processes of
 * one contender each. `fresh`: a new Mutex name every cycle (bench `mutex-fresh`).
 */
export function goMutex(n: number, mode: Mode, cs: 'mem' | 'txn' = 'mem', fresh = false): BenchCase {
  return {
    bench: fresh ? 'mutex-fresh' : 'mutex',
    impl: 'go',
    n,
    mode,
    clients: 'own',
    cs,
    async run(ctx: CaseContext): Promise<Outcome> {
      const binary = await goBinary(ctx);
      const name = `${ctx.prefix}lock`;
      const processes = mode === 'multi-process' ? n : 1;
      const procs: GoProcess[] = [];
      let leftover = 0;
      try {
        for (let p = 0; p < processes; p++) {
          procs.push(
            new GoProcess(binary, {
              endpoints: ctx.endpoints,
              name,
              n: mode === 'multi-process' ? 1 : n,
              who: mode === 'multi-process' ? `p${p}-` : 'g',
              ttl: SESSION_TTL_S,
              mode: fresh ? 'fresh' : 'lock',
              cs,
              dataKey: `${ctx.prefix}data`,
            }),
          );
        }
        await Promise.all(procs.map((p) => p.ready(REPLY_TIMEOUT_MS)));
        if (ctx.warmupMs > 0) {
          const warmUntil = now() + ctx.warmupMs;
          await Promise.all(procs.map((p) => p.go(warmUntil, ctx.warmupMs + REPLY_TIMEOUT_MS)));
        }
        const window = await openWindow(ctx.endpoints);
        const stopAt = now() + ctx.durationMs;
        const reports = await Promise.all(procs.map((p) => p.go(stopAt, ctx.durationMs + REPLY_TIMEOUT_MS)));
        const stats = await window.close();
        return {
          window: stats,
          waits: reports.flatMap((r) => r.waits),
          contenders:
            mode === 'multi-process'
              ? procs.map((_, p) => `p${p}-0`)
              : Array.from({ length: n }, (_, i) => `g${i}`),
          capacity: 1,
          workerCpuMs: reports.reduce((s, r) => s + r.cpuMs, 0),
          errors: reports.reduce((s, r) => s + r.errors, 0),
          firstError: reports.find((r) => r.firstError)?.firstError,
          // Read by summarize(), after the finally block below has swept the prefix.
          get extra() {
            return { leftover_keys: leftover };
          },
        };
      } finally {
        await Promise.allSettled(procs.map((p) => p.quit()));
        leftover = await sweep(ctx.endpoints, ctx.prefix, name);
      }
    },
  };
}
