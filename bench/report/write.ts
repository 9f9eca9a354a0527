import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CaseResult } from '../result.js';
import { acquisitionsChart } from './chart.js';
import { markdownTable, tableRows } from './table.js';
import { type TargetCheck, targetsMarkdown } from './targets.js';

export interface Report {
  results: CaseResult[];
  targets: TargetCheck[];
  skipped: { id: string; reason: string }[];
  machine: string;
  etcd: string;
  durationS: number;
  repeat: number;
  /** 1-minute load average at the start and the end of the run. */
  load: [number, number];
}

export const CHART_FILE = 'acquisitions.svg';

/** Writes `latest.md` (machine, table, targets) and the chart into `dir`; returns the paths. */
export async function writeReport(dir: string, report: Report): Promise<string[]> {
  const { head, rows } = tableRows(report.results);
  const md = [
    '# Contention benchmark: latest run',
    '',
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${report.machine}`,
    `- etcd: ${report.etcd}`,
    `- Load average (1 min) at the start / end of the run: ${report.load[0]} / ${report.load[1]} (other work on the machine disturbs the numbers)`,
    `- ${report.durationS} s per case${report.repeat > 1 ? `, ${report.repeat} interleaved passes, median run per case` : ''}; \`npm run bench\` (the README's benchmark section says what each column means)`,
    '',
    `![acquisitions/s against N](${CHART_FILE})`,
    '',
    markdownTable(head, rows),
    '',
    '## Targets (issue 6)',
    '',
    targetsMarkdown(report.targets),
    '',
    ...(report.skipped.length > 0
      ? ['## Not available yet', '', ...report.skipped.map((s) => `- \`${s.id}\`: ${s.reason}`), '']
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
  await writeFile(mdPath, md);
  await writeFile(
    svgPath,
    acquisitionsChart(report.results, 'Acquisitions/s under contention (etcd 3.4, one node)'),
  );
  return [mdPath, svgPath];
}
