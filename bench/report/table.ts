import type { CaseResult } from '../result.js';

const fmt = (x: number | null | undefined, digits = 1) =>
  x === null || x === undefined ? '–' : x.toFixed(digits);

const COLUMNS: [string, (r: CaseResult) => string][] = [
  ['bench', (r) => r.bench],
  ['impl', (r) => r.impl],
  ['mode', (r) => r.mode],
  ['clients', (r) => r.clients],
  ['n', (r) => String(r.n)],
  ['cs', (r) => r.cs],
  ['acq/s', (r) => fmt(r.ops_per_s, 0)],
];
const DETAIL: [string, (r: CaseResult) => string][] = [
  ['wait p50', (r) => fmt(r.wait_ms?.p50, 2)],
  ['wait p99', (r) => fmt(r.wait_ms?.p99, 2)],
  ['handoff p50', (r) => fmt(r.handoff_ms?.p50, 2)],
  ['handoff p99', (r) => fmt(r.handoff_ms?.p99, 2)],
  ['jain', (r) => fmt(r.jain, 3)],
  ['fifo viol.', (r) => (r.fifo_violations === null ? '–' : String(r.fifo_violations))],
  ['rpcs/op', (r) => fmt(r.rpcs_per_op, 2)],
  ['watch msgs/op', (r) => fmt(r.watch_messages_per_op, 2)],
  ['events/op', (r) => fmt(r.watch_events_per_op, 2)],
  ['client ms/op', (r) => fmt(r.client_cpu_ms_per_op, 3)],
  ['etcd ms/op', (r) => fmt(r.server_cpu_ms_per_op, 3)],
];

/** The raw ring at the same N and mode: the floor of any handoff through etcd. */
export function ringFor(results: readonly CaseResult[], r: CaseResult): CaseResult | undefined {
  return results.find((x) => x.bench === 'ring' && x.mode === r.mode && x.n === r.n);
}

/** Go's concurrency.Mutex on the same bench, N, mode and critical section. */
export function goFor(results: readonly CaseResult[], r: CaseResult): CaseResult | undefined {
  return results.find(
    (x) => x.impl === 'go' && x.bench === r.bench && x.mode === r.mode && x.n === r.n && x.cs === r.cs,
  );
}

const ratio = (a: CaseResult, b: CaseResult | undefined) =>
  !b?.ops_per_s || a.ops_per_s === null ? '–' : (a.ops_per_s / b.ops_per_s).toFixed(2);

/** Column headers and cells of the lock-like cases, for the terminal and for Markdown. */
export function tableRows(results: readonly CaseResult[]): { head: string[]; rows: string[][] } {
  const columns: [string, (r: CaseResult) => string][] = [
    ...COLUMNS,
    ['× ring', (r) => (r.bench === 'ring' ? '–' : ratio(r, ringFor(results, r)))],
    ['× Go', (r) => (r.impl === 'go' || r.impl === 'raw-ring' ? '–' : ratio(r, goFor(results, r)))],
    ...DETAIL,
  ];
  const rows = results.filter((r) => r.bench !== 'keepalive');
  return { head: columns.map(([h]) => h), rows: rows.map((r) => columns.map(([, cell]) => cell(r))) };
}

/** The keep-alive cases: renewals per second, what Go's TTL/3 would send, and what they cost etcd. */
export function keepaliveRows(results: readonly CaseResult[]): { head: string[]; rows: string[][] } {
  const num = (v: unknown, digits = 0) => (typeof v === 'number' ? v.toFixed(digits) : '–');
  return {
    head: ['impl', 'sessions', 'ttl s', 'renewals/s', 'at TTL/3', 'etcd cpu ms/s', 'client cpu ms/s'],
    rows: results
      .filter((r) => r.bench === 'keepalive')
      .map((r) => [
        r.impl,
        String(r.n),
        num(r.ttl_s),
        num(r.renewals_per_s),
        num(r.renewals_per_s_at_ttl_3),
        num(r.etcd_cpu_ms_per_s, 1),
        num(r.client_cpu_ms_per_s, 1),
      ]),
  };
}

/** A plain-text table for the terminal; numbers right-aligned. */
export function textTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const numeric = head.map((_, i) => rows.every((r) => /^[-–\d.]+$/.test(r[i]!)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function markdownTable(head: string[], rows: string[][]): string {
  const numeric = head.map((_, i) => rows.every((r) => /^[-–\d.]+$/.test(r[i]!)));
  return [
    `| ${head.join(' | ')} |`,
    `| ${numeric.map((n) => (n ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}
