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
  cs: string;
  ops: number;
  ops_per_s: number | null;
  wait_ms: { p50: number; p99: number } | null;
  handoff_ms: { p50: number; p99: number } | null;
  jain: number | null;
  rpcs_per_op: number | null;
  fifo_violations: number | null;
  exclusion_violations: number | null;
  errors: number;
  leftover_keys?: number;
}

const isQuantiles = (q: unknown) =>
  typeof q === 'object' &&
  q !== null &&
  typeof (q as Line['wait_ms'])?.p50 === 'number' &&
  typeof (q as Line['wait_ms'])?.p99 === 'number';

describe('npm run bench -- --quick (smoke run, no timing assertions)', () => {
  it('runs every case, prints one well-formed JSON object per case and exits by itself', async () => {
    const listed = await bench(['--list'], 60_000);
    expect(listed.code).toBe(0);
    const ids = listed.stdout.trim().split('\n');

    const run = await bench(['--json', '--quick', '--duration', '0.3'], 240_000);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
    expect(lines.map((l) => `${l.bench}/${l.impl}/${l.mode}/n=${l.n}/${l.cs}`)).toEqual(ids);

    for (const line of lines) {
      const what = JSON.stringify(line);
      expect(typeof line.bench, what).toBe('string');
      expect(['etcd-concurrency', 'etcd3', 'raw-ring'], what).toContain(line.impl);
      expect(Number.isInteger(line.n) && line.n > 0, what).toBe(true);
      expect(['in-process', 'multi-process'], what).toContain(line.mode);
      expect(['mem', 'txn', 'none'], what).toContain(line.cs);
      expect(typeof line.rpcs_per_op, what).toBe('number');
      expect(line.ops, what).toBeGreaterThan(0);
      // One contender alone hands nothing off (the ring's single node hands the token to itself).
      if (line.n > 1 || line.bench === 'ring') expect(isQuantiles(line.handoff_ms), what).toBe(true);
      expect(line.errors, what).toBe(0);
      if (line.bench !== 'election-failover') {
        expect(line.ops_per_s, what).toBeGreaterThan(0);
        // A ring node's wait is the time between two of its turns: a short run on a loaded
        // machine may end before any of 128 nodes had a second turn.
        const ringTooShort = line.impl === 'raw-ring' && line.ops < 2 * line.n;
        if (!ringTooShort) expect(isQuantiles(line.wait_ms), what).toBe(true);
        expect(line.jain, what).toBeGreaterThan(0);
      }
      if (line.exclusion_violations !== null) expect(line.exclusion_violations, what).toBe(0);
      if (line.leftover_keys !== undefined) expect(line.leftover_keys, what).toBe(0);
      if (line.impl === 'etcd-concurrency' && line.bench === 'mutex')
        expect(line.fifo_violations, what).toBe(0);
    }
    expect(new Set(lines.map((l) => l.impl))).toEqual(new Set(['raw-ring', 'etcd-concurrency', 'etcd3']));
  }, 300_000);
});
