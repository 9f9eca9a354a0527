import type { CaseResult } from '../result.js';

/** A line of a chart over N: one implementation and critical section (in-process), plus markers. */
export interface Series {
  label: string;
  color: string;
  dash?: string;
  /** The in-process results on the line. */
  line(r: CaseResult): boolean;
  /** Results drawn as hollow squares at their N (separate processes). */
  marker?(r: CaseResult): boolean;
}

const inProc = (r: CaseResult) => r.mode === 'in-process';
const multi = (r: CaseResult) => r.mode === 'multi-process';
const isRing = (r: CaseResult) => r.bench === 'ring';
const mutexOf = (impl: CaseResult['impl'], cs: CaseResult['cs']) => (r: CaseResult) =>
  r.bench === 'mutex' && r.impl === impl && r.cs === cs;

/** The fleet: each contender on its own client, and separate processes (hollow squares). */
export const FLEET_SERIES: Series[] = [
  {
    label: 'raw put→watch ring (floor)',
    color: '#555555',
    dash: '6 4',
    line: (r) => isRing(r) && inProc(r),
    marker: (r) => isRing(r) && multi(r),
  },
  {
    label: 'etcd-concurrency Mutex',
    color: '#1f77b4',
    line: (r) => mutexOf('etcd-concurrency', 'mem')(r) && inProc(r) && r.clients === 'own',
    marker: (r) => mutexOf('etcd-concurrency', 'mem')(r) && multi(r),
  },
  {
    label: "Go's concurrency.Mutex",
    color: '#2ca02c',
    line: (r) => mutexOf('go', 'mem')(r) && inProc(r),
    marker: (r) => mutexOf('go', 'mem')(r) && multi(r),
  },
  {
    label: 'etcd3 Lock + p-retry',
    color: '#d62728',
    line: (r) => mutexOf('etcd3', 'mem')(r) && inProc(r) && r.clients === 'own',
    marker: (r) => mutexOf('etcd3', 'mem')(r) && multi(r),
  },
];

/** One shared client per process (N = 1 is the same case in both worlds). */
export const SHARED_SERIES: Series[] = [
  { label: 'raw put→watch ring (floor)', color: '#555555', dash: '6 4', line: (r) => isRing(r) && inProc(r) },
  { label: 'ring + a 2nd write per hop', color: '#999999', dash: '2 3', line: (r) => r.bench === 'ring-2w' },
  ...(['mem', 'txn'] as const).flatMap((cs): Series[] => [
    {
      label: `etcd-concurrency Mutex, ${cs}`,
      color: cs === 'mem' ? '#1f77b4' : '#17becf',
      line: (r) => mutexOf('etcd-concurrency', cs)(r) && inProc(r) && (r.clients === 'shared' || r.n === 1),
    },
    {
      label: `etcd3 Lock + p-retry, ${cs}`,
      color: cs === 'mem' ? '#d62728' : '#ff7f0e',
      line: (r) => mutexOf('etcd3', cs)(r) && inProc(r) && (r.clients === 'shared' || r.n === 1),
    },
  ]),
];

const W = 760;
const H = 440;
const M = { left: 70, right: 250, top: 40, bottom: 50 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/**
 * Acquisitions per second against N, one line per implementation (in-process), hollow markers
 * for the multi-process runs at their N. Log scales on both axes: N doubles, and etcd3's numbers
 * sit orders of magnitude below the others.
 */
export function acquisitionsChart(
  results: readonly CaseResult[],
  title: string,
  series: readonly Series[],
  markerLabel = 'separate processes',
): string {
  const relevant = results.filter(
    (r) => (r.ops_per_s ?? 0) > 0 && series.some((s) => s.line(r) || (s.marker?.(r) ?? false)),
  );
  const ns = [...new Set(relevant.map((r) => r.n))].sort((a, b) => a - b);
  const rates = relevant.map((r) => r.ops_per_s!);
  if (ns.length === 0 || rates.length === 0) return emptyChart(title);
  const [minN, maxN] = [ns[0]!, ns.at(-1)!];
  const ticks = niceTicks(Math.min(...rates), Math.max(...rates));
  const yMin = ticks[0]!;
  const yMax = ticks.at(-1)!;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const x = (n: number) =>
    M.left + (maxN === minN ? plotW / 2 : (Math.log2(n / minN) / Math.log2(maxN / minN)) * plotW);
  const y = (v: number) => M.top + plotH - (Math.log10(v / yMin) / Math.log10(yMax / yMin)) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  for (const v of ticks) {
    out.push(
      `<line x1="${M.left}" x2="${M.left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#e0e0e0"/>`,
      `<text x="${M.left - 8}" y="${y(v) + 4}" text-anchor="end">${v >= 1000 ? `${v / 1000}k` : v}</text>`,
    );
  }
  for (const n of ns) {
    out.push(
      `<line x1="${x(n)}" x2="${x(n)}" y1="${M.top}" y2="${M.top + plotH}" stroke="#f0f0f0"/>`,
      `<text x="${x(n)}" y="${M.top + plotH + 18}" text-anchor="middle">${n}</text>`,
    );
  }
  out.push(
    `<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
    `<text x="${M.left + plotW / 2}" y="${H - 12}" text-anchor="middle">contenders N (log scale)</text>`,
    `<text transform="translate(18 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">acquisitions/s (log scale)</text>`,
  );
  series.forEach((s, i) => {
    const line = relevant.filter((r) => s.line(r)).sort((a, b) => a.n - b.n);
    const markers = relevant.filter((r) => s.marker?.(r) ?? false);
    if (line.length > 1) {
      const points = line.map((r) => `${x(r.n).toFixed(1)},${y(r.ops_per_s!).toFixed(1)}`).join(' ');
      out.push(
        `<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
      );
    }
    for (const r of line)
      out.push(`<circle cx="${x(r.n)}" cy="${y(r.ops_per_s!)}" r="3.5" fill="${s.color}"/>`);
    for (const r of markers) {
      out.push(
        `<rect x="${x(r.n) - 5}" y="${y(r.ops_per_s!) - 5}" width="10" height="10" fill="white" stroke="${s.color}" stroke-width="2"/>`,
      );
    }
    const ly = M.top + 10 + i * 22;
    const lx = M.left + plotW + 16;
    out.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
      `<text x="${lx + 30}" y="${ly + 4}">${esc(s.label)}</text>`,
    );
  });
  const ly = M.top + 10 + series.length * 22 + 8;
  const lx = M.left + plotW + 16;
  const hasMarkers = series.some((s) => s.marker !== undefined);
  out.push(
    ...(hasMarkers
      ? [
          `<rect x="${lx + 7}" y="${ly - 5}" width="10" height="10" fill="white" stroke="#333" stroke-width="2"/>`,
          `<text x="${lx + 30}" y="${ly + 4}">${esc(markerLabel)}</text>`,
        ]
      : []),
    `<circle cx="${lx + 12}" cy="${ly + 22}" r="3.5" fill="#333"/>`,
    `<text x="${lx + 30}" y="${ly + 26}">${hasMarkers ? 'one process, a client each' : 'one process, one client'}</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}

/** Gridlines in 1-2-5 steps, from the last one at or below `min` to the first at or above `max`. */
function niceTicks(min: number, max: number): number[] {
  const steps: number[] = [];
  for (let d = 10 ** Math.floor(Math.log10(min)); d <= max * 10; d *= 10) steps.push(d, 2 * d, 5 * d);
  const lo = steps.filter((v) => v <= min).at(-1) ?? steps[0]!;
  const hi = steps.find((v) => v >= max) ?? steps.at(-1)!;
  return steps.filter((v) => v >= lo && v <= hi);
}

function emptyChart(title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="60"><text x="10" y="30">${esc(title)}: no data</text></svg>\n`;
}
