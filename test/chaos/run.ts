/**
 * `npm run test:chaos` — the long chaos run, outside vitest.
 *
 *   CHAOS_DURATION_S=120 npm run test:chaos              # every scenario for 120 s (default 60)
 *   npm run test:chaos -- --only mutex/pause             # scenarios whose name contains the text
 *   npm run test:chaos -- --short                        # the short catalogue of `npm test`
 *   npm run test:chaos -- --artifacts /tmp/chaos         # where logs and histories go
 *
 * Starts a private 3-member etcd on loopback (no auto-compaction, snapshots every 100 entries, as
 * Jepsen runs it), runs the scenarios one after the other, prints one summary line per scenario,
 * and exits 1 if any guarded scenario has a violation or the negative control is NOT flagged.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startEtcd } from '../support/etcd-cluster.js';
import { summaryLine } from './checker.js';
import { runScenario } from './scenario.js';
import { CHAOS_ETCD_ARGS } from './cluster.js';
import { scenarios } from './scenarios.js';
import type { ScenarioReport } from './types.js';

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    only: { type: 'string' },
    duration: { type: 'string' },
    artifacts: { type: 'string' },
  },
});

const durationS = Number(values.duration ?? process.env.CHAOS_DURATION_S ?? 60);
if (!values.short && (!Number.isFinite(durationS) || durationS < 5)) {
  console.error(`CHAOS_DURATION_S / --duration must be a number of seconds ≥ 5, got ${String(durationS)}`);
  process.exit(2);
}
const catalogue = scenarios(values.short ? { size: 'short' } : { size: 'long', durationS }).filter(
  (s) => values.only === undefined || s.name.includes(values.only),
);
const artifactsDir = values.artifacts ?? (await mkdtemp(path.join(os.tmpdir(), 'etcd-concurrency-chaos-')));

console.log(
  `[chaos] ${catalogue.length} scenario(s), ${values.short ? 'short' : `${durationS} s each`}; artifacts in ${artifactsDir}`,
);
const cluster = await startEtcd({ members: 3, extraArgs: CHAOS_ETCD_ARGS });
const reports: ScenarioReport[] = [];
let failed = false;
try {
  for (const spec of catalogue) {
    const report = await runScenario(spec, { cluster, artifactsDir, log: (line) => console.log(line) });
    reports.push(report);
    const control = report.unguarded;
    console.log(`${summaryLine(report)}${control ? '  <- negative control (unguarded writes)' : ''}`);
    for (const v of report.violations.slice(0, 10)) console.log(`    ${v.kind}: ${v.message}`);
    if (Object.keys(report.errors).length > 0)
      console.log(`    worker errors: ${JSON.stringify(report.errors)}`);
    if (control ? report.violations.length === 0 : report.violations.length > 0) failed = true;
    if (control && report.violations.length === 0) {
      console.log('    FAIL: the negative control was not flagged: the checker proves nothing');
    }
  }
} finally {
  await cluster.stop();
}
console.log(
  `[chaos] ${reports.length} scenario(s): ${failed ? 'FAILED' : 'passed'}; ` +
    `${reports.reduce((n, r) => n + r.acquisitions, 0)} acquisitions, ` +
    `${reports.reduce((n, r) => n + r.faults.length, 0)} faults; artifacts in ${artifactsDir}`,
);
process.exit(failed ? 1 : 0);
