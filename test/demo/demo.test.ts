import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { runTs, useSpawn } from '../support/spawn.js';

/**
 * `npm run demo` (its entry, demo/main.ts) in its quick setting: it ends by itself, its summary
 * reports every part as passed, and it leaves no key, worker process or etcd behind.
 */
const etcd = useEtcd();
useSpawn();

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The worker PIDs the summary lists. */
function workerPids(stdout: string): number[] {
  const listed = /all exited \(pids ([\d ]+)\)/.exec(stdout)?.[1] ?? '';
  return listed.split(' ').filter(Boolean).map(Number);
}

describe('npm run demo', () => {
  it(
    'plays mutex, election and semaphore on ETCD_ENDPOINTS and leaves nothing behind',
    { timeout: 90_000 },
    async () => {
      const prefix = uniquePrefix('demo');
      const demo = runTs('demo/main.ts', ['--quick', '--prefix', prefix]);
      const { code, stdout, stderr } = await demo.exit(80_000);
      expect(stderr).toBe('');
      expect(code, stdout).toBe(0);
      expect(stdout).toMatch(/etcd 3\.\S+ at http:\/\/127\.0\.0\.1:\d+ \(ETCD_ENDPOINTS\)/);
      // the timeline
      expect(stdout).toMatch(/worker-\d {2}holds the lock {4}fencing token \d+/);
      expect(stdout).toMatch(/SIGKILL worker-\d \(pid \d+\), the leader/);
      expect(stdout).toMatch(/job \d starts {2}[■□]+ [12]\/2 running/);
      // the summary
      const summary = stdout.slice(stdout.indexOf('Summary'));
      expect(summary).toMatch(
        /✓ mutex: +6\/6 turns by 3 processes, never two holders at once, fencing tokens strictly increasing/,
      );
      expect(summary).toMatch(
        /✓ election: +leader killed with SIGKILL, worker-\d took over after \d+\.\d\d s \(lease TTL 2 s\)/,
      );
      expect(summary).toMatch(
        /✓ semaphore: 6\/6 jobs from 3 processes, at most [12] running at once \(2 permits\)/,
      );
      expect(summary).toMatch(/✓ cleanup: +0 keys left under/);
      expect(summary).not.toContain('✗');
      // nothing left behind
      expect(await etcd.client().getAll().prefix(prefix).count()).toBe(0);
      const pids = workerPids(stdout);
      expect(pids).toHaveLength(9);
      expect(pids.filter(isRunning)).toEqual([]);
    },
  );

  it(
    'starts an embedded etcd when ETCD_ENDPOINTS is unset, and removes it at the end',
    { timeout: 90_000 },
    async () => {
      const demo = runTs('demo/main.ts', ['--quick'], { ETCD_ENDPOINTS: '' });
      const { code, stdout } = await demo.exit(80_000);
      expect(code, stdout).toBe(0);
      const [, etcdPid, dataDir] =
        /embedded etcd 3\.\S+ at http:\/\/127\.0\.0\.1:\d+, pid (\d+), data in (\S+)/.exec(stdout) ?? [];
      expect(dataDir).toBeDefined();
      expect(stdout).toContain(`embedded etcd stopped, ${dataDir} removed`);
      expect(existsSync(dataDir!)).toBe(false);
      expect(isRunning(Number(etcdPid))).toBe(false);
      expect(workerPids(stdout).filter(isRunning)).toEqual([]);
    },
  );

  it('cleans up on Ctrl-C: workers stopped, keys removed, exit status 130', { timeout: 60_000 }, async () => {
    const prefix = uniquePrefix('demo');
    const demo = runTs('demo/main.ts', ['--prefix', prefix]);
    await demo.waitFor(/holds the lock/, 30_000);
    const pids = [...demo.stdout.matchAll(/worker-\d pid (\d+)/g)].map((m) => Number(m[1]));
    expect(pids.length).toBeGreaterThan(0);
    demo.kill('SIGINT');
    const { code, stdout } = await demo.exit(30_000);
    expect(code).toBe(130);
    expect(stdout).toContain(`cleaned up: workers stopped; no keys left under ${prefix}`);
    expect(pids.filter(isRunning)).toEqual([]);
    expect(await etcd.client().getAll().prefix(prefix).count()).toBe(0);
  });
});
