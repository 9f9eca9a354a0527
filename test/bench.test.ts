import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMetrics } from '../bench/metrics.js';
import { evaluateTargets, type TargetCheck } from '../bench/report/targets.js';
import type { CaseResult } from '../bench/result.js';
import { rwExclusionViolations, type Wait } from '../bench/stats.js';
import { sharedEtcdEndpoints } from './support/etcd.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSX_CLI = createRequire(import.meta.url).resolve('tsx/cli');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm run bench -- <args>` as the user would, on this Node, against the shared etcd. */
function bench(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSX_CLI, 'bench/main.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ETCD_ENDPOINTS: sharedEtcdEndpoints().join(',') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the bench did not exit within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Line {
  bench: string;
  impl: string;
  n: number;
  mode: string;
  clients: string;
  cs: string;
  ops: number;
  ops_per_s: number | null;
  wait_ms: { p50: number; p99: number } | null;
  handoff_ms: { p50: number; p99: number } | null;
  jain: number | null;
  rpcs_per_op: number | null;
  watch_messages_per_op: number | null;
  server_cpu_ms_per_op: number | null;
  fifo_violations: number | null;
  exclusion_violations: number | null;
  errors: number;
  leftover_keys?: number;
  renewals_per_s?: number;
  sessions?: number;
}

const isQuantiles = (q: unknown) =>
  typeof q === 'object' &&
  q !== null &&
  typeof (q as Line['wait_ms'])?.p50 === 'number' &&
  typeof (q as Line['wait_ms'])?.p99 === 'number';

/**
 * One case of every kind, at --quick sizes (the keep-alive case: 100 sessions, not 1,000; no
 * 32-process case): the shared and own-client Mutex, the fresh name, Go's Mutex in one process
 * and as processes, etcd3's Lock, the rings, RWMutex, Semaphore, Election, keep-alives.
 */
const SUBSET = [
  'ring/raw-ring/in-process/own/n=8/',
  'ring/raw-ring/multi-process/',
  'in-process/own/n=1/mem',
  'mutex/etcd-concurrency/in-process/own/n=8/',
  'mutex/go/in-process/own/n=8/',
  'mutex/etcd-concurrency/in-process/shared/n=8/mem',
  'multi-process/own/n=8/mem',
  'rwmutex/',
  'semaphore/etcd-concurrency/in-process/own/',
  'election-',
  'keepalive/etcd-concurrency/',
  'keepalive/go/',
].join(',');

describe('npm run bench -- --quick (smoke run, no timing assertions)', () => {
  it('runs a case of every kind, prints one well-formed JSON object per case and exits by itself', async () => {
    const args = ['--quick', '--only', SUBSET];
    const listed = await bench([...args, '--list'], 30_000);
    expect(listed.code).toBe(0);
    const ids = listed.stdout.trim().split('\n');
    expect(ids.length).toBeGreaterThanOrEqual(15);

    const run = await bench([...args, '--json', '--duration', '0.4'], 120_000);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
    // Go's Mutex is skipped, with the reason on stderr, only where Go cannot be installed.
    const skipped = ids.filter(
      (id) => !lines.some((l) => id === `${l.bench}/${l.impl}/${l.mode}/${l.clients}/n=${l.n}/${l.cs}`),
    );
    for (const id of skipped) expect(id, run.stderr).toMatch(/^[a-z-]+\/go\//);
    if (skipped.length > 0) expect(run.stderr).toMatch(/skipped: .*(golang|go build)/);
    expect(lines.map((l) => `${l.bench}/${l.impl}/${l.mode}/${l.clients}/n=${l.n}/${l.cs}`)).toEqual(
      ids.filter((id) => !skipped.includes(id)),
    );

    for (const line of lines) {
      const what = JSON.stringify(line);
      expect(typeof line.bench, what).toBe('string');
      expect(['etcd-concurrency', 'go', 'etcd3', 'raw-ring'], what).toContain(line.impl);
      expect(Number.isInteger(line.n) && line.n > 0, what).toBe(true);
      expect(['in-process', 'multi-process'], what).toContain(line.mode);
      expect(['own', 'shared'], what).toContain(line.clients);
      expect(['mem', 'txn', 'none'], what).toContain(line.cs);
      expect(typeof line.rpcs_per_op, what).toBe('number');
      expect(typeof line.watch_messages_per_op, what).toBe('number');
      expect(typeof line.server_cpu_ms_per_op, what).toBe('number');
      expect(line.ops, what).toBeGreaterThan(0);
      expect(line.errors, what).toBe(0);
      if (line.bench === 'keepalive') {
        // Every session renews at least once in a window of one TTL.
        expect(line.sessions, what).toBe(line.n);
        expect(line.ops, what).toBeGreaterThanOrEqual(line.n);
        expect(line.renewals_per_s, what).toBeGreaterThan(0);
        continue;
      }
      // One contender alone hands nothing off (the ring's single node hands the token to itself).
      if (line.n > 1 || line.bench === 'ring') expect(isQuantiles(line.handoff_ms), what).toBe(true);
      if (line.bench !== 'election-failover') {
        expect(line.ops_per_s, what).toBeGreaterThan(0);
        // A ring node's wait is the time between two of its turns: a short run on a loaded
        // machine may end before any node had a second turn.
        const ringTooShort = line.impl === 'raw-ring' && line.ops < 2 * line.n;
        if (!ringTooShort) expect(isQuantiles(line.wait_ms), what).toBe(true);
        expect(line.jain, what).toBeGreaterThan(0);
      }
      if (line.exclusion_violations !== null) expect(line.exclusion_violations, what).toBe(0);
      if (line.leftover_keys !== undefined) expect(line.leftover_keys, what).toBe(0);
      if (line.impl === 'etcd-concurrency' && line.bench === 'mutex')
        expect(line.fifo_violations, what).toBe(0);
    }
    expect(new Set(lines.map((l) => l.impl))).toEqual(
      new Set(['raw-ring', 'etcd-concurrency', 'etcd3', ...(skipped.length > 0 ? [] : ['go'])]),
    );
    expect(new Set(lines.map((l) => l.clients))).toEqual(new Set(['own', 'shared']));
  }, 150_000);
});

describe('the bench report (pure logic)', () => {
  const line = (over: Partial<CaseResult>): CaseResult => ({
    bench: 'mutex',
    impl: 'etcd-concurrency',
    n: 1,
    mode: 'in-process',
    clients: 'own',
    cs: 'mem',
    ops: 100,
    duration_s: 1,
    ops_per_s: 100,
    wait_ms: null,
    handoff_ms: null,
    jain: null,
    fifo_violations: 0,
    fifo_by: null,
    exclusion_violations: 0,
    rpcs_per_op: 2,
    rpcs: { Txn: 2 },
    keepalives_per_op: 0,
    watch_requests_per_op: 0,
    watch_events_per_op: 0,
    watch_messages_per_op: 0,
    client_cpu_ms_per_op: 1,
    server_cpu_ms_per_op: 1,
    loop_delay_p99_ms: 0,
    errors: 0,
    ...over,
  });
  const verdict = (checks: TargetCheck[], prefix: string) =>
    checks.find((c) => c.target.startsWith(prefix))?.ok;

  it('holds ours against Go at the same bench, N and mode, and reports what was not measured', () => {
    const results = [
      line({ ops_per_s: 900 }),
      line({ impl: 'go', ops_per_s: 1000 }),
      line({ bench: 'mutex-fresh', ops_per_s: 700, rpcs_per_op: 3, watch_messages_per_op: 4 }),
      line({ bench: 'mutex-fresh', impl: 'go', ops_per_s: 1000 }),
      line({ n: 8, ops_per_s: 400, server_cpu_ms_per_op: 1 }),
      line({ n: 8, impl: 'go', ops_per_s: 80, server_cpu_ms_per_op: 2 }),
    ];
    const checks = evaluateTargets(results);
    expect(verdict(checks, 'Uncontended lock+release, same name: exactly 2 RPCs')).toBe(true);
    expect(verdict(checks, 'Uncontended lock+release, same name: ≥ 0.8× Go')).toBe(true);
    expect(verdict(checks, 'Uncontended lock+release, fresh name each time: exactly 2 RPCs')).toBe(false);
    expect(verdict(checks, 'Uncontended lock+release, fresh name each time: ≥ 0.8× Go')).toBe(false);
    expect(verdict(checks, 'Contended, own clients, N=8: ≥ 5× Go')).toBe(true);
    expect(verdict(checks, "Contended, own clients, N=8: etcd CPU per acquisition ≤ Go's")).toBe(true);
    expect(verdict(checks, 'Contended, own clients, N=32: ≥ 1.5× Go')).toBeNull();
    expect(verdict(checks, '32 processes')).toBeNull();
  });

  it("measures keep-alives against Go's renewals", () => {
    const keep = (impl: CaseResult['impl'], renewals: number) =>
      line({ bench: 'keepalive', impl, n: 1000, renewals_per_s: renewals, renewals_per_s_at_ttl_3: 500 });
    expect(verdict(evaluateTargets([keep('etcd-concurrency', 1000), keep('go', 500)]), 'Keep-alive')).toBe(
      false,
    );
    expect(verdict(evaluateTargets([keep('etcd-concurrency', 520), keep('go', 500)]), 'Keep-alive')).toBe(
      true,
    );
    // Without Go's column, the yardstick is what renewing every TTL/3 sends.
    expect(
      evaluateTargets([keep('etcd-concurrency', 510)]).find((c) => c.target.startsWith('Keep-alive'))
        ?.measured,
    ).toMatch(/Go not measured/);
  });

  it("reads etcd's sent and received gRPC counters by method", () => {
    const c = parseMetrics(
      [
        '# TYPE grpc_server_msg_received_total counter',
        'grpc_server_msg_received_total{grpc_method="LeaseKeepAlive",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"} 42',
        'grpc_server_msg_sent_total{grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"} 7',
        'grpc_server_msg_received_total{grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"} 3',
      ].join('\n'),
    );
    expect(c.received).toEqual({ LeaseKeepAlive: 42, Txn: 3 });
    expect(c.sent).toEqual({ Watch: 7 });
  });

  it('counts a writer holding beside anyone as an RWMutex exclusion violation, readers together as none', () => {
    const hold = (acquired: number, released: number, writer = false): Wait => ({
      who: `${acquired}`,
      start: 0,
      acquired,
      released,
      ...(writer ? { writer } : {}),
    });
    expect(rwExclusionViolations([hold(0, 10), hold(1, 5), hold(2, 12)])).toBe(0);
    expect(rwExclusionViolations([hold(0, 10), hold(10, 20, true), hold(20, 30)])).toBe(0);
    expect(rwExclusionViolations([hold(0, 10), hold(5, 20, true)])).toBe(1);
    expect(rwExclusionViolations([hold(0, 10, true), hold(5, 8)])).toBe(1);
    // Property: holds laid end to end never overlap, whoever writes.
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 50 }), fc.boolean()), { maxLength: 30 }),
        (xs) => {
          let t = 0;
          const waits = xs.map(([len, writer]) => hold(t, (t += len), writer));
          return rwExclusionViolations(waits) === 0;
        },
      ),
    );
  });
});
