/**
 * `npm run bench [-- --quick] [--duration <s>] [--json] [--only <text,…>] [--clients own|shared] [--out <dir>]`
 *
 * The contention benchmark of issues 6 and 13, in one run against one etcd: the raw put→watch
 * ring (the floor), our Mutex (one name, and a fresh name per cycle), Go's concurrency.Mutex,
 * etcd3's Lock with retries — each contender on its own client (the fleet), on one shared client,
 * and as separate processes — RWMutex, Semaphore, Election handoff and failover, and 1,000 idle
 * sessions' keep-alives. Results on stdout (a table, or one JSON object per line with --json),
 * progress on stderr; a full run also writes bench/results/latest.md and two charts.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CaseSkipped, type CaseContext } from './cases/context.js';
import { allCases } from './cases/index.js';
import { mutexInProcess } from './cases/lock.js';
import { ringInProcess } from './cases/ring.js';
import { caseId } from './spec.js';
import { benchEtcd } from './etcd.js';
import { goContender } from './go/build.js';
import { type CaseResult, summarize } from './result.js';
import { describeMachine, loadAverage } from './report/machine.js';
import { keepaliveRows, tableRows, textTable } from './report/table.js';
import { evaluateTargets, targetsText } from './report/targets.js';
import { writeReport } from './report/write.js';
import { spawnWorkers, type WorkerProcess } from './workers/process.js';

const USAGE = `usage: npm run bench -- [options]
  --quick            every case briefly (0.25 s warm-up, 0.5 s measured, no 32-process cases, 100 sessions in
                     the keep-alive case; about a minute and a half), for smoke runs
  --duration <s>     seconds per case (default 3, or 0.5 with --quick)
  --json             one JSON object per case on stdout instead of the table
  --only <text,…>    only the cases whose id contains one of these (ids: bench/impl/mode/clients/n=N/cs)
  --clients <c>      only the cases with each contender on its own client (own: the fleet, with Go's
                     Mutex and the separate processes) or on one shared client (shared); the raw
                     ring, the floor of both, always runs (default: both)
  --skip-go          leave out Go's concurrency.Mutex (otherwise built on first use with Debian's
                     golang-go and golang-etcd-server-dev, installed by apt-get when root)
  --out <dir>        write latest.md and acquisitions.svg there (default: bench/results, full runs only)
  --repeat <k>       run every case k times, passes interleaved, and report each case's median
                     run by acquisitions/s (steadier numbers on a shared machine)
  --list             print the case ids and exit
ETCD_ENDPOINTS=host:port,… measures that etcd instead of starting a private one.`;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    json: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    list: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
    clients: { type: 'string' },
    'skip-go': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const durationS = values.duration === undefined ? (values.quick ? 0.5 : 3) : Number(values.duration);
if (!Number.isFinite(durationS) || durationS <= 0) {
  process.stderr.write(`--duration must be a positive number of seconds, got ${values.duration}\n${USAGE}\n`);
  process.exit(2);
}
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1) {
  process.stderr.write(`--repeat must be a positive integer, got ${values.repeat}\n${USAGE}\n`);
  process.exit(2);
}
const filters =
  values.only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean) ?? [];
const clients = values.clients;
if (clients !== undefined && clients !== 'own' && clients !== 'shared') {
  process.stderr.write(`--clients must be own or shared, got ${clients}\n${USAGE}\n`);
  process.exit(2);
}
const cases = allCases(values.quick)
  .filter((c) => clients === undefined || c.impl === 'raw-ring' || c.clients === clients)
  .filter((c) => !values['skip-go'] || c.impl !== 'go')
  .filter((c) => filters.length === 0 || filters.some((f) => caseId(c).includes(f)));
if (values.list) {
  process.stdout.write(`${cases.map(caseId).join('\n')}\n`);
  process.exit(0);
}
const fullRun = !values.quick && filters.length === 0 && clients === undefined && !values['skip-go'];
const outDir = values.out ?? (fullRun ? fileURLToPath(new URL('./results/', import.meta.url)) : undefined);

const log = (message: string) => process.stderr.write(`${message}\n`);
// Ctrl-C or a kill: exit through 'exit' hooks, which SIGKILL the private etcd; workers see their
// channel close and exit by themselves.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
const runId = randomBytes(4).toString('hex');
const startedAt = Date.now();
const loadAtStart = loadAverage();
const etcd = await benchEtcd();
log(
  `bench: ${etcd.description}; ${cases.length} cases × ${durationS} s${repeat > 1 ? ` × ${repeat} passes` : ''}; keys under bench/${runId}/`,
);

let pool: WorkerProcess[] = [];
const workers = (n: number): Promise<WorkerProcess[]> => {
  if (pool.length < n) {
    log(`  spawning ${n - pool.length} worker processes`);
    pool = [...pool, ...spawnWorkers(n - pool.length, `w${pool.length}`)];
  }
  return Promise.resolve(pool.slice(0, n));
};

// Every case warms up (JIT, connections, the mirror) before measuring: --quick just enough for a
// fresh client's first lock, which can take a few hundred ms on a loaded machine.
const warmupMs = values.quick ? 250 : Math.round(Math.min(1000, (durationS * 1000) / 3));
const context = (i: number): CaseContext => ({
  endpoints: etcd.endpoints,
  durationMs: durationS * 1000,
  warmupMs,
  quick: values.quick,
  prefix: `bench/${runId}/${i}/`,
  log,
  workers,
  go: () => goContender(log),
});
if (!values.quick) {
  log('warming up this process (unmeasured ring and Mutex, N=8)');
  for (const [k, c] of [ringInProcess(8), mutexInProcess(8, 'mem')].entries()) {
    await c.run({ ...context(-1 - k), durationMs: 1000, warmupMs: 0 });
  }
}

const runs = new Map<string, CaseResult[]>();
const skipped: { id: string; reason: string }[] = [];
let failed = 0;
try {
  for (let pass = 1; pass <= repeat; pass++) {
    for (const [i, c] of cases.entries()) {
      const id = caseId(c);
      const step = `[${repeat > 1 ? `pass ${pass}/${repeat} ` : ''}${i + 1}/${cases.length}]`;
      const why = c.unavailable?.();
      if (why) {
        if (pass === 1) skipped.push({ id, reason: why });
        log(`${step} ${id}: skipped, not available yet (${why})`);
        continue;
      }
      log(`${step} ${id} …`);
      try {
        const result = summarize(c, await c.run(context(i + cases.length * (pass - 1))));
        runs.set(id, [...(runs.get(id) ?? []), result]);
        log(
          `  ${result.ops} ${result.bench === 'keepalive' ? 'renewals' : 'acquisitions'}, ${result.ops_per_s ?? '–'}/s, handoff p50 ${result.handoff_ms?.p50 ?? '–'} ms, ` +
            `rpcs/op ${result.rpcs_per_op ?? '–'}${result.errors > 0 ? `, ${result.errors} errors (${result.first_error ?? ''})` : ''}`,
        );
        if (values.json && pass === repeat)
          process.stdout.write(`${JSON.stringify(median(runs.get(id)!))}\n`);
      } catch (err) {
        if (err instanceof CaseSkipped) {
          if (pass === 1) skipped.push({ id, reason: err.message });
          log(`  skipped: ${err.message}`);
          continue;
        }
        failed++;
        log(`  FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        // A worker that missed a reply may still be playing its role: start the next case on fresh ones.
        if (pool.length > 0) {
          const stale = pool;
          pool = [];
          await Promise.allSettled(stale.map((w) => w.close()));
        }
      }
    }
  }
} finally {
  await Promise.allSettled(pool.map((w) => w.close()));
  await etcd.stop();
}
const results = cases.map((c) => runs.get(caseId(c))).flatMap((r) => (r ? [median(r)] : []));

/** The run with the median acquisitions/s (failover: median latency), tagged with how many runs there were. */
function median(rs: CaseResult[]): CaseResult {
  const key = (r: CaseResult) => r.ops_per_s ?? -(r.handoff_ms?.p50 ?? 0);
  const sorted = [...rs].sort((a, b) => key(a) - key(b));
  const mid = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return rs.length > 1 ? { ...mid, runs: rs.length, ops_per_s_runs: rs.map((r) => r.ops_per_s) } : mid;
}

const targets = evaluateTargets(results);
if (!values.json) {
  const { head, rows } = tableRows(results);
  const keep = keepaliveRows(results);
  process.stdout.write(`\n${textTable(head, rows)}\n\n`);
  if (keep.rows.length > 0) process.stdout.write(`Keep-alive:\n${textTable(keep.head, keep.rows)}\n\n`);
  process.stdout.write(`${targetsText(targets)}\n`);
  for (const s of skipped) process.stdout.write(`skipped: ${s.id} (${s.reason})\n`);
}
if (outDir !== undefined) {
  await mkdir(outDir, { recursive: true });
  const files = await writeReport(outDir, {
    results,
    targets,
    skipped,
    machine: describeMachine(),
    etcd: etcd.description,
    durationS,
    warmupMs,
    repeat,
    load: [loadAtStart, loadAverage()],
    elapsedS: Math.round((Date.now() - startedAt) / 1000),
    goVersion: values['skip-go']
      ? 'not measured (--skip-go)'
      : await goContender(log).then((b) => ('version' in b ? b.version : `not measured: ${b.unavailable}`)),
  });
  log(`bench: wrote ${files.join(', ')}`);
}
if (failed > 0) log(`bench: ${failed} case(s) failed`);
process.exitCode = failed > 0 ? 1 : 0;

// Everything was closed above; if a handle still keeps the process alive, say so and exit anyway.
setTimeout(() => {
  log('bench: handles still open 10 s after the run (a leak); exiting');
  process.exit(process.exitCode ?? 1);
}, 10_000).unref();
