import type { CaseSpec } from './spec.js';
import { UNARY_METHODS } from './metrics.js';
import {
  type Quantiles,
  type Wait,
  acquisitionsPerContender,
  exclusionViolations,
  rwExclusionViolations,
  fifoViolations,
  handoffs,
  jain,
  quantiles,
  waitTimes,
} from './stats.js';
import type { WindowStats } from './window.js';

/** What a case's run hands back, raw; {@link summarize} turns it into a result line. */
export interface Outcome {
  window: WindowStats;
  /** Lock-like cases: every wait of every contender. */
  waits?: Wait[];
  contenders?: string[];
  /** How many may hold at once (a mutex: 1, a semaphore: its permits). */
  capacity?: number;
  /** RWMutex: exclusion is checked as readers–writer (a writer overlaps nobody). */
  readersWriter?: boolean;
  /** Keep-alive case: idle sessions, their TTL; the result counts etcd's LeaseKeepAlive messages. */
  keepalive?: { sessions: number; ttlS: number };
  /** The raw ring: handoff latencies, each node's time between two turns, turns per node. */
  ring?: { handoffs: number[]; cycles: number[]; perNode: number[] };
  /** Crash failover: kill → next leader, per kill (ms). */
  failovers?: number[];
  /** Client CPU of worker processes (multi-process cases), added to this process's. */
  workerCpuMs?: number;
  workerLoopDelayP99Ms?: number;
  errors: number;
  firstError?: string | undefined;
  extra?: Record<string, number | string | null>;
}

/** One line of `--json`, one row of the table. */
export interface CaseResult {
  bench: string;
  impl: CaseSpec['impl'];
  n: number;
  mode: CaseSpec['mode'];
  clients: CaseSpec['clients'];
  cs: CaseSpec['cs'];
  ops: number;
  duration_s: number;
  ops_per_s: number | null;
  wait_ms: Quantiles | null;
  handoff_ms: Quantiles | null;
  jain: number | null;
  fifo_violations: number | null;
  /** What "started waiting earlier" means for this case: the queue's revision order, or wall-clock start. */
  fifo_by: string | null;
  exclusion_violations: number | null;
  /** Unary RPCs etcd received per acquisition ({@link UNARY_METHODS}: Txn, Range, Put, DeleteRange, Lease*). */
  rpcs_per_op: number | null;
  /** The same by method, per acquisition. */
  rpcs: Record<string, number> | null;
  keepalives_per_op: number | null;
  watch_requests_per_op: number | null;
  watch_events_per_op: number | null;
  /** Watch stream messages per acquisition, both ways (creates and cancels in, responses out). */
  watch_messages_per_op: number | null;
  client_cpu_ms_per_op: number | null;
  server_cpu_ms_per_op: number | null;
  loop_delay_p99_ms: number;
  errors: number;
  first_error?: string;
  [extra: string]: unknown;
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits));
const roundQ = (q: Quantiles | undefined): Quantiles | null =>
  q ? { p50: round(q.p50), p99: round(q.p99) } : null;

export function summarize(spec: CaseSpec, out: Outcome): CaseResult {
  const { window } = out;
  let ops = 0;
  let wait: Quantiles | undefined;
  let handoff: Quantiles | undefined;
  let fairness: number | undefined;
  let fifo: number | null = null;
  let fifoBy: string | null = null;
  let exclusion: number | null = null;
  if (out.waits) {
    ops = out.waits.filter((w) => w.acquired !== undefined).length;
    wait = quantiles(waitTimes(out.waits));
    handoff = quantiles(handoffs(out.waits));
    fairness = jain(acquisitionsPerContender(out.waits, out.contenders ?? []));
    const f = fifoViolations(out.waits);
    fifo = f.violations;
    fifoBy = f.by;
    exclusion = out.readersWriter
      ? rwExclusionViolations(out.waits)
      : exclusionViolations(out.waits, out.capacity ?? 1);
  } else if (out.ring) {
    ops = out.ring.handoffs.length;
    wait = quantiles(out.ring.cycles);
    handoff = quantiles(out.ring.handoffs);
    fairness = jain(out.ring.perNode);
  } else if (out.failovers) {
    ops = out.failovers.length;
    handoff = quantiles(out.failovers);
  } else if (out.keepalive) {
    // An "operation" of the keep-alive case is one renewal, as etcd counted it.
    ops = window.counters?.received.LeaseKeepAlive ?? 0;
  }
  const perOp = (x: number) => (ops > 0 ? round(x / ops) : null);
  const c = window.counters;
  const rpcs: Record<string, number> = {};
  let unary = 0;
  if (c) {
    for (const m of UNARY_METHODS) {
      const v = c.received[m] ?? 0;
      unary += v;
      if (v > 0 && ops > 0) rpcs[m] = round(v / ops);
    }
  }
  const cpuMs = window.clientCpuMs + (out.workerCpuMs ?? 0);
  const seconds = window.elapsedMs / 1000;
  const keepalive = out.keepalive
    ? {
        sessions: out.keepalive.sessions,
        ttl_s: out.keepalive.ttlS,
        renewals_per_s: round(ops / seconds, 1),
        renewals_per_s_at_ttl_3: round((out.keepalive.sessions * 3) / out.keepalive.ttlS, 1),
        etcd_cpu_ms_per_s: c ? round((c.cpuSeconds * 1000) / seconds, 1) : null,
        client_cpu_ms_per_s: round(cpuMs / seconds, 1),
      }
    : {};
  const result: CaseResult = {
    bench: spec.bench,
    impl: spec.impl,
    n: spec.n,
    mode: spec.mode,
    clients: spec.clients,
    cs: spec.cs,
    ops,
    duration_s: round(window.elapsedMs / 1000),
    ops_per_s: out.failovers ? null : round(ops / (window.elapsedMs / 1000), 1),
    wait_ms: roundQ(wait),
    handoff_ms: roundQ(handoff),
    jain: fairness === undefined ? null : round(fairness, 4),
    fifo_violations: fifo,
    fifo_by: fifoBy,
    exclusion_violations: exclusion,
    rpcs_per_op: c ? perOp(unary) : null,
    rpcs: c ? rpcs : null,
    keepalives_per_op: c ? perOp(c.received.LeaseKeepAlive ?? 0) : null,
    watch_requests_per_op: c ? perOp(c.received.Watch ?? 0) : null,
    watch_events_per_op: c ? perOp(c.watchEvents) : null,
    watch_messages_per_op: c ? perOp((c.received.Watch ?? 0) + (c.sent.Watch ?? 0)) : null,
    client_cpu_ms_per_op: perOp(cpuMs),
    server_cpu_ms_per_op: c ? perOp(c.cpuSeconds * 1000) : null,
    loop_delay_p99_ms: round(Math.max(window.loopDelayP99Ms, out.workerLoopDelayP99Ms ?? 0)),
    errors: out.errors,
    ...(out.firstError ? { first_error: out.firstError } : {}),
    ...keepalive,
    ...out.extra,
  };
  return result;
}
