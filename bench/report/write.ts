import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CaseResult } from '../result.js';
import { acquisitionsChart, FLEET_SERIES, SHARED_SERIES } from './chart.js';
import { keepaliveRows, markdownTable, tableRows } from './table.js';
import { type TargetCheck, targetsMarkdown } from './targets.js';

export interface Report {
  results: CaseResult[];
  targets: TargetCheck[];
  skipped: { id: string; reason: string }[];
  machine: string;
  etcd: string;
  durationS: number;
  warmupMs: number;
  repeat: number;
  /** 1-minute load average at the start and the end of the run. */
  load: [number, number];
  /** Wall-clock seconds of the whole run. */
  elapsedS: number;
  /** `go version` of the Go contender's build, or why it was not measured. */
  goVersion: string;
}

export const CHART_FILE = 'acquisitions.svg';
export const SHARED_CHART_FILE = 'shared-client.svg';

/** What the columns and the coordinates mean: in the report, so that it reads on its own. */
export const LEGEND = [
  "- **impl**: `etcd-concurrency` is this library (public API only); `go` is etcd's own Go",
  "  `clientv3/concurrency` Mutex (etcd 3.4 client from Debian's `golang-etcd-server-dev`, imported,",
  "  not copied); `etcd3` is etcd3 npm's `client.lock()` retried with p-retry (10 ms doubling to",
  '  500 ms, jitter); `raw-ring` is the floor: a token passed by put→watch between N clients, one',
  '  handoff per put, nothing else.',
  '- **mode / clients**: `in-process/own` — N contenders in one process, each with its own client and',
  '  session, sharing nothing (the fleet: one client per process); `in-process/shared` — N contenders',
  '  on one client of one process; `multi-process/own` — N OS processes, one contender each.',
  '- **bench**: `mutex` — every contender on one name (N = 1: uncontended); `mutex-fresh` — a new',
  '  name every cycle (a lock per job); `rwmutex` — 1 writer in 4; `semaphore` — 4 permits;',
  '  `election-handoff` — the leader resigns, the next campaign resolves; `election-failover` — the',
  '  leader is SIGKILLed, time until the next is elected; `keepalive` — idle sessions only.',
  '- **cs**: the critical section: `mem` a counter in memory; `txn` a put guarded by the hold (ours:',
  '  `hold.txn()`, Go: `If(mutex.IsOwner())`, etcd3: a plain put).',
  '- **acq/s**: acquisitions per second, all contenders together. **× ring**: acq/s over the raw',
  "  ring's at the same N and mode; **× Go**: over Go's Mutex at the same bench, N, mode and cs.",
  "- **wait**: lock() called → held (ms); **handoff**: a release → the next holder's acquire",
  "  resolving (ms). **jain**: Jain's fairness index over the contenders' acquisition counts (1 =",
  '  equal shares). **fifo viol.**: acquisitions that overtook an earlier waiter (by queue revision).',
  '- **rpcs/op**: unary RPCs etcd received per acquisition (Txn, Range, Put, DeleteRange, Lease*),',
  "  from etcd's own `/metrics` counters, not the client's; **watch msgs/op**: watch stream messages",
  '  both ways (creates and cancels in, responses out); **events/op**: watch events etcd sent.',
  "- **client ms/op**, **etcd ms/op**: CPU per acquisition of the contenders' processes and of etcd",
  '  (`process_cpu_seconds_total`, 10 ms resolution).',
  '- Keep-alive table: **renewals/s** are LeaseKeepAlive messages etcd received; **at TTL/3** is what',
  "  renewing every TTL/3 (Go's rate) sends: sessions × 3 / TTL.",
];

/** Writes `latest.md` (settings, legend, tables, targets) and the two charts into `dir`; returns the paths. */
export async function writeReport(dir: string, report: Report): Promise<string[]> {
  const { head, rows } = tableRows(report.results);
  const keep = keepaliveRows(report.results);
  const md = [
    '# Contention benchmark: latest run',
    '',
    `- Date: ${new Date().toISOString()}; the whole run took ${report.elapsedS} s`,
    `- Machine: ${report.machine}`,
    `- etcd: ${report.etcd}`,
    `- Go contender: ${report.goVersion}`,
    `- Load average (1 min) at the start / end of the run: ${report.load[0]} / ${report.load[1]} (other work on the machine disturbs the numbers)`,
    `- ${report.durationS} s measured per case after ${report.warmupMs} ms unmeasured warm-up${report.repeat > 1 ? `, ${report.repeat} interleaved passes, median run per case` : ', one pass'}; \`npm run bench\``,
    '',
    '## What the columns mean',
    '',
    ...LEGEND,
    '',
    `![acquisitions/s against N, each contender on its own client](${CHART_FILE})`,
    '',
    `![acquisitions/s against N, one shared client](${SHARED_CHART_FILE})`,
    '',
    markdownTable(head, rows),
    '',
    ...(keep.rows.length > 0 ? ['## Keep-alive', '', markdownTable(keep.head, keep.rows), ''] : []),
    '## Targets',
    '',
    targetsMarkdown(report.targets),
    '',
    ...(report.skipped.length > 0
      ? ['## Skipped', '', ...report.skipped.map((s) => `- \`${s.id}\`: ${s.reason}`), '']
      : []),
    '## Raw results (JSON lines)',
    '',
    '```json',
    ...report.results.map((r) => JSON.stringify(r)),
    '```',
    '',
  ].join('\n');
  const mdPath = path.join(dir, 'latest.md');
  const svgPath = path.join(dir, CHART_FILE);
  const sharedPath = path.join(dir, SHARED_CHART_FILE);
  await writeFile(mdPath, md);
  await writeFile(
    svgPath,
    acquisitionsChart(
      report.results,
      'Acquisitions/s, each contender on its own client (etcd 3.4, one node)',
      FLEET_SERIES,
      'separate processes',
    ),
  );
  await writeFile(
    sharedPath,
    acquisitionsChart(report.results, 'Acquisitions/s, contenders sharing one client', SHARED_SERIES),
  );
  return [mdPath, svgPath, sharedPath];
}
