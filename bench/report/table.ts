import type { CaseResult } from '../result.js';

const fmt = (x: number | null | undefined, digits = 1) =>
  x === null || x === undefined ? '–' : x.toFixed(digits);

const COLUMNS: [string, (r: CaseResult) => string][] = [
  ['bench', (r) => r.bench],
  ['impl', (r) => r.impl],
  ['mode', (r) => r.mode],
  ['n', (r) => String(r.n)],
  ['cs', (r) => r.cs],
  ['acq/s', (r) => fmt(r.ops_per_s, 0)],
  ['wait p50', (r) => fmt(r.wait_ms?.p50, 2)],
  ['wait p99', (r) => fmt(r.wait_ms?.p99, 2)],
  ['handoff p50', (r) => fmt(r.handoff_ms?.p50, 2)],
  ['handoff p99', (r) => fmt(r.handoff_ms?.p99, 2)],
  ['jain', (r) => fmt(r.jain, 3)],
  ['fifo viol.', (r) => (r.fifo_violations === null ? '–' : String(r.fifo_violations))],
  ['rpcs/op', (r) => fmt(r.rpcs_per_op, 2)],
  ['events/op', (r) => fmt(r.watch_events_per_op, 2)],
  ['client ms/op', (r) => fmt(r.client_cpu_ms_per_op, 3)],
  ['etcd ms/op', (r) => fmt(r.server_cpu_ms_per_op, 3)],
];

/** Acquisitions/s as a multiple of the raw ring's at the same N and mode. */
function vsRing(results: readonly CaseResult[]): (r: CaseResult) => string {
  return (r) => {
    const ring = results.find((x) => x.bench === 'ring' && x.mode === r.mode && x.n === r.n);
    if (r.bench === 'ring' || !ring?.ops_per_s || r.ops_per_s === null) return '–';
    return (r.ops_per_s / ring.ops_per_s).toFixed(2);
  };
}

/** Column headers and cells, for the terminal and for Markdown. */
export function tableRows(results: readonly CaseResult[]): { head: string[]; rows: string[][] } {
  const columns: [string, (r: CaseResult) => string][] = [
    ...COLUMNS.slice(0, 6),
    ['× ring', vsRing(results)],
    ...COLUMNS.slice(6),
  ];
  return { head: columns.map(([h]) => h), rows: results.map((r) => columns.map(([, cell]) => cell(r))) };
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
