/**
 * The scenario catalogue, in two sizes: `short` (the default `npm test`: fixed, small operation
 * counts, one or two faults each) and `long` (`npm run test:chaos`: every scenario runs for
 * `durationS` seconds with a fault every few seconds).
 */
import type { ScenarioSpec } from './scenario.js';

export type ChaosSize = { size: 'short' } | { size: 'long'; durationS: number };

/** 4 workers: enough contention on a 2-core machine shared with other test runs. */
const WORKERS = 4;

export function scenarios(opts: ChaosSize): ScenarioSpec[] {
  const long = opts.size === 'long';
  const durationMs = long ? opts.durationS * 1000 : 0;
  /** fixed op counts in the short run; in the long run the duration ends it */
  const ops = (short: number) => (long ? 1_000_000 : short);
  const limit = (shortMs: number) => (long ? durationMs : shortMs);
  /** the long run repeats the fault every `everyMs` */
  const times = (short: number, everyMs: number) =>
    long ? Math.max(1, Math.floor(durationMs / everyMs)) : short;
  const quick: [number, number] = [5, 25];
  // Holder faults strike right after the worker's read; it must still be thinking when SIGSTOP lands.
  const slow: [number, number] = [60, 120];

  return [
    {
      name: 'mutex/no-fault',
      kind: 'mutex',
      workers: WORKERS,
      opsPerWorker: ops(10),
      timeLimitMs: limit(30_000),
      ttl: 3,
      thinkMs: quick,
    },
    {
      name: 'mutex/kill-holder',
      kind: 'mutex',
      workers: WORKERS,
      opsPerWorker: ops(6),
      timeLimitMs: limit(40_000),
      ttl: 2,
      thinkMs: slow,
      fault: { kind: 'kill-holder', count: times(2, 8000), everyMs: long ? 4000 : 300 },
    },
    {
      name: 'mutex/pause-holder',
      kind: 'mutex',
      workers: WORKERS,
      opsPerWorker: ops(6),
      timeLimitMs: limit(40_000),
      ttl: 2,
      thinkMs: slow,
      fault: { kind: 'pause-holder', count: times(1, 8000), everyMs: long ? 4000 : 300 },
    },
    {
      // The negative control: the same run, writes unguarded. The checker must flag it.
      name: 'mutex/pause-holder',
      kind: 'mutex',
      unguarded: true,
      workers: WORKERS,
      opsPerWorker: ops(6),
      timeLimitMs: limit(40_000),
      ttl: 2,
      thinkMs: slow,
      fault: { kind: 'pause-holder', count: times(1, 8000), everyMs: long ? 4000 : 300 },
    },
    {
      name: 'mutex/kill-leader',
      kind: 'mutex',
      workers: WORKERS,
      opsPerWorker: ops(12),
      timeLimitMs: limit(40_000),
      ttl: 5,
      thinkMs: quick,
      fault: { kind: 'kill-leader', count: times(1, 6000), everyMs: long ? 3000 : 300, downMs: 1500 },
    },
    {
      name: 'mutex/kill-follower',
      kind: 'mutex',
      workers: WORKERS,
      opsPerWorker: ops(12),
      timeLimitMs: limit(40_000),
      ttl: 5,
      thinkMs: quick,
      fault: { kind: 'kill-follower', count: times(1, 6000), everyMs: long ? 3000 : 300, downMs: 1500 },
    },
    {
      name: 'mutex/restart-member-mid-wait',
      kind: 'mutex',
      workers: WORKERS + 1,
      opsPerWorker: ops(10),
      timeLimitMs: limit(40_000),
      ttl: 5,
      thinkMs: quick,
      pinEndpoints: true,
      fault: {
        kind: 'restart-member-mid-wait',
        count: times(1, 6000),
        everyMs: long ? 3000 : 300,
        downMs: 1000,
      },
    },
    {
      name: 'election/pause-leader',
      kind: 'election',
      workers: WORKERS,
      opsPerWorker: ops(6),
      timeLimitMs: limit(40_000),
      ttl: 2,
      thinkMs: slow,
      fault: { kind: 'pause-holder', count: times(1, 8000), everyMs: long ? 4000 : 300 },
    },
    {
      name: 'semaphore/pause-holder',
      kind: 'semaphore',
      workers: WORKERS + 1,
      permits: 2,
      opsPerWorker: ops(6),
      timeLimitMs: limit(40_000),
      ttl: 2,
      thinkMs: slow,
      fault: { kind: 'pause-holder', count: times(1, 8000), everyMs: long ? 4000 : 300 },
    },
    {
      name: 'semaphore/kill-holder',
      kind: 'semaphore',
      workers: WORKERS + 1,
      permits: 3,
      weights: [1, 2],
      opsPerWorker: ops(8),
      timeLimitMs: limit(40_000),
      ttl: 2,
      thinkMs: slow,
      fault: { kind: 'kill-holder', count: times(1, 8000), everyMs: long ? 4000 : 300 },
    },
  ];
}
