import { monitorEventLoopDelay } from 'node:perf_hooks';
import { now } from './clock.js';
import { type EtcdCounters, scrape, since } from './metrics.js';

/** What a measurement window saw: etcd's counters, this process's CPU and event loop, the time. */
export interface WindowStats {
  counters: EtcdCounters | undefined;
  elapsedMs: number;
  clientCpuMs: number;
  loopDelayP99Ms: number;
}

export interface MeasurementWindow {
  readonly startedAt: number;
  close(): Promise<WindowStats>;
}

/**
 * Opens a window around a case's contention loop only (sessions are made before it and closed
 * after it), so that RPCs, watch events and CPU divide by acquisitions without setup costs.
 */
export async function openWindow(endpoints: readonly string[]): Promise<MeasurementWindow> {
  const before = await scrape(endpoints);
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const cpu = process.cpuUsage();
  const startedAt = now();
  return {
    startedAt,
    async close() {
      const elapsedMs = now() - startedAt;
      const used = process.cpuUsage(cpu);
      loop.disable();
      const after = await scrape(endpoints);
      return {
        counters: before && after ? since(after, before) : undefined,
        elapsedMs,
        clientCpuMs: (used.user + used.system) / 1000,
        loopDelayP99Ms: loop.percentile(99) / 1e6,
      };
    },
  };
}

/** Runs `make` for `count` indexes, at most `batch` at a time (sessions: a lease grant each). */
export async function inBatches<T>(
  count: number,
  batch: number,
  make: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i += batch) {
    const chunk = Array.from({ length: Math.min(batch, count - i) }, (_, j) => make(i + j));
    out.push(...(await Promise.all(chunk)));
  }
  return out;
}
