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
    ...waiterAndNetworkFaults(opts),
  ];
}

/**
 * The faults of a waiting client and of its network, for every primitive: a waiter stalled past
 * its TTL (SIGSTOP, or its own event loop blocked), replies lost (etcd ran the request, the client
 * never heard: a blackhole on the worker's own proxies), and connections reset mid-call.
 */
function waiterAndNetworkFaults(opts: ChaosSize): ScenarioSpec[] {
  const long = opts.size === 'long';
  const durationMs = long ? opts.durationS * 1000 : 0;
  const ops = (short: number) => (long ? 1_000_000 : short);
  const limit = (shortMs: number) => (long ? durationMs : shortMs);
  const times = (short: number, everyMs: number) =>
    long ? Math.max(1, Math.floor(durationMs / everyMs)) : short;
  const slow: [number, number] = [60, 120];
  const primitives: Pick<ScenarioSpec, 'kind' | 'workers' | 'permits' | 'weights' | 'roles' | 'count'>[] = [
    { kind: 'mutex', workers: WORKERS },
    { kind: 'rwmutex', workers: WORKERS, roles: ['writer', 'reader', 'writer', 'reader'] },
    { kind: 'semaphore', workers: WORKERS + 1, permits: 2 },
    { kind: 'election', workers: WORKERS },
    { kind: 'barrier', workers: 3, count: 3 },
  ];
  const out: ScenarioSpec[] = [];
  for (const p of primitives) {
    const base = {
      ...p,
      opsPerWorker: ops(p.kind === 'barrier' ? 4 : 6),
      timeLimitMs: limit(30_000),
      ttl: 2,
      thinkMs: slow,
    };
    const name = p.kind === 'barrier' ? 'double-barrier' : p.kind;
    out.push(
      {
        ...base,
        name: `${name}/pause-waiter`,
        fault: { kind: 'pause-waiter', count: times(1, 8000), everyMs: long ? 4000 : 300 },
      },
      {
        ...base,
        // A window shorter than the TTL: the session survives, so whatever the lost replies left
        // behind stays in etcd on a live lease.
        name: `${name}/lose-replies`,
        proxied: true,
        callTimeoutMs: 1000,
        ttl: 4,
        fault: {
          kind: 'lose-replies',
          count: times(2, 6000),
          everyMs: long ? 3000 : 300,
          windowMs: 1500,
          target: 'releasing',
        },
      },
      {
        ...base,
        name: `${name}/reset-connections`,
        proxied: true,
        callTimeoutMs: 1000,
        fault: {
          kind: 'reset-connections',
          count: times(2, 3000),
          everyMs: long ? 1500 : 300,
          target: 'waiter',
        },
      },
    );
  }
  out.push(
    {
      name: 'mutex/block-waiter',
      kind: 'mutex',
      workers: WORKERS,
      opsPerWorker: ops(6),
      timeLimitMs: limit(30_000),
      ttl: 2,
      thinkMs: slow,
      fault: { kind: 'block-waiter', count: times(1, 8000), everyMs: long ? 4000 : 300 },
    },
    {
      name: 'semaphore/block-waiter',
      kind: 'semaphore',
      workers: WORKERS + 1,
      permits: 2,
      opsPerWorker: ops(6),
      timeLimitMs: limit(30_000),
      ttl: 2,
      thinkMs: slow,
      fault: { kind: 'block-waiter', count: times(1, 8000), everyMs: long ? 4000 : 300 },
    },
  );
  return out;
}
