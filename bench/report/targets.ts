import type { CaseResult } from '../result.js';
import type { CaseSpec } from '../spec.js';

/** One target of issue 6 against this run's numbers; `ok` is null when a case did not run. */
export interface TargetCheck {
  target: string;
  measured: string;
  ok: boolean | null;
}

type Where = Partial<Pick<CaseSpec, 'bench' | 'impl' | 'mode' | 'n' | 'cs'>>;

const x2 = (v: number) => `${v.toFixed(2)}×`;

/** The targets of issue 6, as ratios within this run. */
export function evaluateTargets(results: readonly CaseResult[]): TargetCheck[] {
  const find = (w: Where) =>
    results.find((r) => Object.entries(w).every(([k, v]) => (r as Record<string, unknown>)[k] === v));
  const checks: TargetCheck[] = [];
  const ratio = (target: string, minimum: number, ours: Where, base: Where) => {
    const a = find(ours)?.ops_per_s;
    const b = find(base)?.ops_per_s;
    if (a === undefined || b === undefined || a === null || b === null || b === 0) {
      checks.push({ target, measured: 'not measured', ok: null });
      return;
    }
    checks.push({
      target,
      measured: `${x2(a / b)} (${a.toFixed(0)} vs ${b.toFixed(0)} acq/s)`,
      ok: a / b >= minimum,
    });
  };
  const ours = { bench: 'mutex', impl: 'etcd-concurrency' } as const;
  const etcd3 = { bench: 'mutex', impl: 'etcd3' } as const;
  const ring = { bench: 'ring', impl: 'raw-ring' } as const;
  for (const n of [8, 32, 128]) {
    ratio(
      `Mutex mem ≥ 0.5× raw ring, N=${n}`,
      0.5,
      { ...ours, mode: 'in-process', n, cs: 'mem' },
      {
        ...ring,
        mode: 'in-process',
        n,
      },
    );
  }
  for (const n of [8, 32]) {
    ratio(
      `Mutex txn ≥ 0.33× raw ring, N=${n}`,
      0.33,
      { ...ours, mode: 'in-process', n, cs: 'txn' },
      {
        ...ring,
        mode: 'in-process',
        n,
      },
    );
  }
  const es = [8, 32, 128]
    .map((n) => find({ ...ours, mode: 'in-process', n, cs: 'mem' })?.watch_events_per_op)
    .filter((e): e is number => typeof e === 'number');
  if (es.length === 3) {
    checks.push({
      target: 'Mutex mem: watch events per acquisition flat in N (max ≤ 1.5× min, N=8/32/128)',
      measured: es.map((e) => e.toFixed(2)).join(' / '),
      ok: Math.max(...es) <= 1.5 * Math.min(...es),
    });
  }
  for (const cs of ['mem', 'txn'] as const) {
    for (const n of [2, 8, 32, 128]) {
      ratio(
        `Mutex ≥ 3× etcd3 Lock+retry, in-process N=${n} ${cs}`,
        3,
        { ...ours, mode: 'in-process', n, cs },
        {
          ...etcd3,
          mode: 'in-process',
          n,
          cs,
        },
      );
    }
    ratio(
      `Mutex ≥ 3× etcd3 Lock+retry, multi-process N=8 ${cs}`,
      3,
      { ...ours, mode: 'multi-process', n: 8, cs },
      {
        ...etcd3,
        mode: 'multi-process',
        n: 8,
        cs,
      },
    );
  }
  const single = find({ ...ours, mode: 'in-process', n: 1, cs: 'mem' });
  checks.push(
    single?.rpcs_per_op === null || single === undefined
      ? { target: 'Uncontended lock + release = 2 round trips', measured: 'not measured', ok: null }
      : {
          target: 'Uncontended lock + release = 2 round trips',
          measured: `${single.rpcs_per_op} RPCs/op ${JSON.stringify(single.rpcs)}`,
          ok: single.rpcs_per_op <= 2.05,
        },
  );
  for (const cs of ['mem', 'txn'] as const) {
    const r = find({ ...ours, mode: 'in-process', n: 32, cs });
    checks.push({
      target: `Jain fairness ≥ 0.99, Mutex N=32 ${cs}`,
      measured: r?.jain?.toFixed(4) ?? 'not measured',
      ok: r?.jain === undefined || r.jain === null ? null : r.jain >= 0.99,
    });
  }
  const mutexRuns = results.filter((r) => r.bench === 'mutex' && r.impl === 'etcd-concurrency');
  const fifo = mutexRuns.reduce((s, r) => s + (r.fifo_violations ?? 0), 0);
  checks.push({
    target: 'Zero FIFO violations (every Mutex case)',
    measured: mutexRuns.length === 0 ? 'not measured' : `${fifo} in ${mutexRuns.length} cases`,
    ok: mutexRuns.length === 0 ? null : fifo === 0,
  });
  const handoff = find({ bench: 'election-handoff' })?.handoff_ms?.p50;
  const floor = find({ ...ring, mode: 'in-process', n: 8 })?.handoff_ms?.p50;
  checks.push(
    handoff === undefined || floor === undefined
      ? {
          target: 'Election graceful handoff p50 ≤ 2× raw ring handoff p50 (N=8)',
          measured: 'not measured',
          ok: null,
        }
      : {
          target: 'Election graceful handoff p50 ≤ 2× raw ring handoff p50 (N=8)',
          measured: `${x2(handoff / floor)} (${handoff.toFixed(2)} vs ${floor.toFixed(2)} ms)`,
          ok: handoff <= 2 * floor,
        },
  );
  const failover = find({ bench: 'election-failover' });
  const maxMs = failover?.failover_max_ms;
  const ttl = failover?.ttl_s;
  checks.push(
    typeof maxMs !== 'number' || typeof ttl !== 'number'
      ? { target: 'Election crash failover ≤ TTL + 1 s', measured: 'not measured', ok: null }
      : {
          target: `Election crash failover ≤ TTL + 1 s (TTL ${ttl} s)`,
          measured: `max ${maxMs.toFixed(0)} ms over ${failover?.ops ?? 0} kills`,
          ok: maxMs <= ttl * 1000 + 1000,
        },
  );
  return checks;
}

const mark = (ok: boolean | null) => (ok === null ? 'n/a ' : ok ? 'PASS' : 'MISS');

export function targetsText(checks: readonly TargetCheck[]): string {
  return [
    'Targets (issue 6), ratios within this run:',
    ...checks.map((c) => `  [${mark(c.ok)}] ${c.target}: ${c.measured}`),
  ].join('\n');
}

export function targetsMarkdown(checks: readonly TargetCheck[]): string {
  return [
    '| target | measured | |',
    '| --- | --- | --- |',
    ...checks.map((c) => `| ${c.target} | ${c.measured} | ${c.ok === null ? 'n/a' : c.ok ? '✅' : '❌'} |`),
  ].join('\n');
}
