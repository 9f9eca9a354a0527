import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
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

    const run = await bench([...args, '--json', '--duration', '0.3'], 120_000);
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
