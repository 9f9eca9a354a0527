import type { CaseResult } from '../result.js';
import type { CaseSpec } from '../spec.js';

/** One target against this run's numbers; `ok` is null when a case did not run. */
export interface TargetCheck {
  /** The issue that set it. */
  issue: 6 | 13;
  target: string;
  measured: string;
  ok: boolean | null;
}

type Where = Partial<Pick<CaseSpec, 'bench' | 'impl' | 'mode' | 'clients' | 'n' | 'cs'>>;

const x2 = (v: number) => `${v.toFixed(2)}×`;
const NOT_MEASURED = 'not measured';

/**
 * The targets of issues 6 and 13, as ratios within this run (never absolute numbers: the machine
 * and its load vary). A missed target is reported, never a failure of the run.
 */
export function evaluateTargets(results: readonly CaseResult[]): TargetCheck[] {
  const find = (w: Where) =>
    results.find((r) => Object.entries(w).every(([k, v]) => (r as Record<string, unknown>)[k] === v));
  const checks: TargetCheck[] = [];
  const check = (issue: 6 | 13, target: string, measured: string | undefined, ok: boolean | null) => {
    checks.push({
      issue,
      target,
      measured: measured ?? NOT_MEASURED,
      ok: measured === undefined ? null : ok,
    });
  };
  const ratio = (issue: 6 | 13, target: string, minimum: number, ours: Where, base: Where) => {
    const a = find(ours)?.ops_per_s;
    const b = find(base)?.ops_per_s;
    if (typeof a !== 'number' || typeof b !== 'number' || b === 0) {
      check(issue, target, undefined, null);
      return;
    }
    check(issue, target, `${x2(a / b)} (${a.toFixed(0)} vs ${b.toFixed(0)} acq/s)`, a / b >= minimum);
  };
  const ours = { impl: 'etcd-concurrency' } as const;
  const go = { impl: 'go', clients: 'own' } as const;
  const ring = { bench: 'ring', impl: 'raw-ring' } as const;

  // Issue 13: the fleet.
  for (const [bench, what] of [
    ['mutex', 'same name'],
    ['mutex-fresh', 'fresh name each time'],
  ] as const) {
    const where = { bench, mode: 'in-process', n: 1, cs: 'mem' } as const;
    const r = find({ ...ours, ...where, clients: 'own' });
    check(
      13,
      `Uncontended lock+release, ${what}: exactly 2 RPCs, 0 watch messages`,
      r && r.rpcs_per_op !== null
        ? `${r.rpcs_per_op} RPCs/op ${JSON.stringify(r.rpcs)}, ${r.watch_messages_per_op ?? '–'} watch msgs/op`
        : undefined,
      r !== undefined && (r.rpcs_per_op ?? 99) <= 2.02 && (r.watch_messages_per_op ?? 99) <= 0.02,
    );
    ratio(
      13,
      `Uncontended lock+release, ${what}: ≥ 0.8× Go`,
      0.8,
      { ...ours, ...where, clients: 'own' },
      {
        ...go,
        ...where,
      },
    );
  }
  for (const [n, minimum] of [
    [8, 5],
    [32, 1.5],
    [128, 1],
  ] as const) {
    const where = { bench: 'mutex', mode: 'in-process', n, cs: 'mem' } as const;
    ratio(
      13,
      `Contended, own clients, N=${n}: ≥ ${minimum}× Go`,
      minimum,
      { ...ours, ...where, clients: 'own' },
      {
        ...go,
        ...where,
      },
    );
    const a = find({ ...ours, ...where, clients: 'own' })?.server_cpu_ms_per_op;
    const b = find({ ...go, ...where })?.server_cpu_ms_per_op;
    check(
      13,
      `Contended, own clients, N=${n}: etcd CPU per acquisition ≤ Go's`,
      typeof a === 'number' && typeof b === 'number' ? `${a.toFixed(3)} vs ${b.toFixed(3)} ms` : undefined,
      typeof a === 'number' && typeof b === 'number' && a <= b,
    );
  }
  for (const n of [8, 32]) {
    const where = { bench: 'mutex', mode: 'multi-process', n, cs: 'mem' } as const;
    ratio(13, `${n} processes: ≥ 3× Go`, 3, { ...ours, ...where }, { ...go, ...where });
  }
  for (const n of [8, 32, 128]) {
    ratio(
      13,
      `Shared client, Mutex mem ≥ 0.5× raw ring, N=${n}`,
      0.5,
      { ...ours, bench: 'mutex', mode: 'in-process', clients: 'shared', n, cs: 'mem' },
      { ...ring, mode: 'in-process', n },
    );
  }
  const keep = find({ ...ours, bench: 'keepalive' });
  const goKeep = find({ bench: 'keepalive', impl: 'go' });
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const rate = (r: CaseResult | undefined) => num(r?.renewals_per_s);
  const cpu = (r: CaseResult | undefined) => num(r?.etcd_cpu_ms_per_s)?.toFixed(1) ?? '–';
  const oursRate = rate(keep);
  const baseRate =
    rate(goKeep) ??
    (typeof keep?.renewals_per_s_at_ttl_3 === 'number' ? keep.renewals_per_s_at_ttl_3 : undefined);
  check(
    13,
    `Keep-alive at Go's rate (every TTL/3): ${keep?.n ?? 1000} sessions renew ≤ 1.1× Go's renewals/s`,
    oursRate !== undefined && baseRate !== undefined
      ? `${oursRate.toFixed(0)} vs ${baseRate.toFixed(0)} renewals/s${rate(goKeep) === undefined ? ' (sessions × 3 / TTL; Go not measured)' : ''}; etcd CPU ${cpu(keep)} vs ${cpu(goKeep)} ms/s`
      : undefined,
    oursRate !== undefined && baseRate !== undefined && oursRate <= 1.1 * baseRate,
  );

  // Issue 6: one shared client, against etcd3 and the ring.
  for (const n of [8, 32]) {
    ratio(
      6,
      `Shared client, Mutex txn ≥ 0.33× raw ring, N=${n}`,
      0.33,
      { ...ours, bench: 'mutex', mode: 'in-process', clients: 'shared', n, cs: 'txn' },
      { ...ring, mode: 'in-process', n },
    );
  }
  const es = [8, 32, 128]
    .map(
      (n) =>
        find({ ...ours, bench: 'mutex', mode: 'in-process', clients: 'shared', n, cs: 'mem' })
          ?.watch_events_per_op,
    )
    .filter((e): e is number => typeof e === 'number');
  check(
    6,
    'Shared client, Mutex mem: watch events per acquisition flat in N (max ≤ 1.5× min, N=8/32/128)',
    es.length === 3 ? es.map((e) => e.toFixed(2)).join(' / ') : undefined,
    es.length === 3 && Math.max(...es) <= 1.5 * Math.min(...es),
  );
  for (const cs of ['mem', 'txn'] as const) {
    for (const n of [2, 8, 32, 128]) {
      const where = { bench: 'mutex', mode: 'in-process', clients: 'shared', n, cs } as const;
      ratio(
        6,
        `Mutex ≥ 3× etcd3 Lock+retry, shared client N=${n} ${cs}`,
        3,
        { ...ours, ...where },
        {
          ...where,
          impl: 'etcd3',
        },
      );
    }
    const where = { bench: 'mutex', mode: 'multi-process', n: 8, cs } as const;
    ratio(
      6,
      `Mutex ≥ 3× etcd3 Lock+retry, 8 processes ${cs}`,
      3,
      { ...ours, ...where },
      { ...where, impl: 'etcd3' },
    );
  }
  for (const cs of ['mem', 'txn'] as const) {
    const r = find({ ...ours, bench: 'mutex', mode: 'in-process', clients: 'shared', n: 32, cs });
    check(
      6,
      `Jain fairness ≥ 0.99, Mutex shared client N=32 ${cs}`,
      typeof r?.jain === 'number' ? r.jain.toFixed(4) : undefined,
      typeof r?.jain === 'number' && r.jain >= 0.99,
    );
  }
  const mutexRuns = results.filter((r) => r.bench === 'mutex' && r.impl === 'etcd-concurrency');
  const fifo = mutexRuns.reduce((s, r) => s + (r.fifo_violations ?? 0), 0);
  check(
    6,
    'Zero FIFO violations (every Mutex case)',
    mutexRuns.length === 0 ? undefined : `${fifo} in ${mutexRuns.length} cases`,
    fifo === 0,
  );
  const handoff = find({ bench: 'election-handoff' })?.handoff_ms?.p50;
  const floor = find({ ...ring, mode: 'in-process', n: 8 })?.handoff_ms?.p50;
  check(
    6,
    'Election graceful handoff p50 ≤ 2× raw ring handoff p50 (N=8)',
    handoff !== undefined && floor !== undefined
      ? `${x2(handoff / floor)} (${handoff.toFixed(2)} vs ${floor.toFixed(2)} ms)`
      : undefined,
    handoff !== undefined && floor !== undefined && handoff <= 2 * floor,
  );
  const failover = find({ bench: 'election-failover' });
  const maxMs = failover?.failover_max_ms;
  const ttl = failover?.ttl_s;
  check(
    6,
    `Election crash failover ≤ TTL + 1 s${typeof ttl === 'number' ? ` (TTL ${ttl} s)` : ''}`,
    typeof maxMs === 'number' && typeof ttl === 'number'
      ? `max ${maxMs.toFixed(0)} ms over ${failover?.ops ?? 0} kills`
      : undefined,
    typeof maxMs === 'number' && typeof ttl === 'number' && maxMs <= ttl * 1000 + 1000,
  );
  return checks;
}

const mark = (ok: boolean | null) => (ok === null ? 'n/a ' : ok ? 'MET ' : 'MISS');

export function targetsText(checks: readonly TargetCheck[]): string {
  return [
    'Targets (issues 6 and 13), ratios within this run (a miss is reported, not an error):',
    ...checks.map((c) => `  [${mark(c.ok)}] #${c.issue} ${c.target}: ${c.measured}`),
  ].join('\n');
}

export function targetsMarkdown(checks: readonly TargetCheck[]): string {
  return [
    '| issue | target | measured | met |',
    '| --- | --- | --- | --- |',
    ...checks.map(
      (c) => `| #${c.issue} | ${c.target} | ${c.measured} | ${c.ok === null ? 'n/a' : c.ok ? '✅' : '❌'} |`,
    ),
  ].join('\n');
}
