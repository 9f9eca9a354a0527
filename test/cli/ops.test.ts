import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Election, Mutex, RWMutex, Semaphore } from '../../src/index.js';
import { keysUnder, useEtcd, waitForKeys } from '../support/clients.js';
import { sharedEtcdEndpoints } from '../support/etcd.js';
import { uniquePrefix } from '../support/prefix.js';
import { ROOT, runTs, spawnProcess, useSpawn } from '../support/spawn.js';

/**
 * The CLI as operators use it, as a separate process against the shared etcd: etcdctl's
 * environment, `lock --try` / `--timeout` and their exit statuses, and `status`.
 */
const etcd = useEtcd();
useSpawn();

/** The CLI with no endpoint settings but those in `env` (the harness' ETCD_ENDPOINTS removed). */
const cliWith = (env: NodeJS.ProcessEnv, ...args: string[]) =>
  runTs('src/cli/main.ts', args, { ETCD_ENDPOINTS: '', ETCDCTL_ENDPOINTS: '', ...env });
const cli = (...args: string[]) => runTs('src/cli/main.ts', args);
const endpoints = () => sharedEtcdEndpoints().join(',');
const UNREACHABLE = '127.0.0.1:1';

describe("etcdctl's environment", { timeout: 60_000 }, () => {
  it('uses ETCDCTL_ENDPOINTS before ETCD_ENDPOINTS', async () => {
    const name = `${uniquePrefix('ops')}env`;
    const ok = await cliWith(
      { ETCDCTL_ENDPOINTS: endpoints(), ETCD_ENDPOINTS: UNREACHABLE },
      'lock',
      name,
      '--',
      'sh',
      '-c',
      'echo "key=$ETCD_LOCK_KEY"',
    ).exit();
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`key=${name}/`);
    const failed = await cliWith(
      { ETCDCTL_ENDPOINTS: UNREACHABLE, ETCD_ENDPOINTS: endpoints() },
      'lock',
      name,
      '--',
      'true',
    ).exit();
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/Cannot reach etcd at 127\.0\.0\.1:1/);
  });

  it('lets --endpoints win over ETCDCTL_ENDPOINTS, saying so on stderr', async () => {
    const name = `${uniquePrefix('ops')}flag`;
    const { code, stderr } = await cliWith(
      { ETCDCTL_ENDPOINTS: UNREACHABLE },
      '--endpoints',
      endpoints(),
      'lock',
      name,
      '--',
      'true',
    ).exit();
    expect(code).toBe(0);
    expect(stderr).toMatch(/ETCDCTL_ENDPOINTS is set, but --endpoints was given: using --endpoints/);
  });
});

describe('lock --try and --timeout', { timeout: 60_000 }, () => {
  it('--try fails at once with exit status 75 naming the holder, an etcdctl lock, and never runs the command', async () => {
    const name = `${uniquePrefix('ops')}try`;
    const holder = spawnProcess('etcdctl', ['--endpoints', endpoints(), 'lock', name], { ETCDCTL_API: '3' });
    const [heldKey] = await holder.waitFor(new RegExp(`${name}/[0-9a-f]+`));
    const started = performance.now();
    const { code, stdout, stderr } = await cli('lock', '--try', name, '--', 'sh', '-c', 'echo ran').exit();
    expect(code).toBe(75);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(stdout).not.toContain('ran');
    const lease = heldKey.slice(name.length + 1);
    expect(stderr).toMatch(new RegExp(`lock "${name}" not acquired: held by lease ${lease}`));
    expect(stderr).toContain(`key ${heldKey}`);
    // nothing of ours is left behind: only etcdctl's key
    expect(await keysUnder(etcd.client(), `${name}/`)).toEqual([heldKey]);
    holder.kill('SIGINT');
    await holder.exit();
    // free now: --try takes it
    const free = await cli('lock', '--try', name, '--', 'sh', '-c', 'echo ran').exit();
    expect(free.code).toBe(0);
    expect(free.stdout).toContain('ran');
  });

  it('--timeout gives up after that long with exit status 75, naming the holder, and leaves no key', async () => {
    const name = `${uniquePrefix('ops')}timeout`;
    const session = await etcd.session();
    const hold = await new Mutex(session, name, { value: 'nightly-backup on host-a' }).lock();
    const started = performance.now();
    const run = cli('--json', 'lock', '--timeout', '1.5', name, '--', 'sh', '-c', 'echo ran');
    const { code, stdout, stderr } = await run.exit();
    const waited = performance.now() - started;
    expect(code).toBe(75);
    expect(waited).toBeGreaterThanOrEqual(1500);
    expect(waited).toBeLessThan(10_000);
    expect(stdout).not.toContain('ran');
    const notes = stderr
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as { event: string; message?: string; holder?: { key: string; value: string } },
      );
    const failure = notes.find((n) => n.event === 'not-acquired');
    expect(failure?.message).toMatch(
      /not acquired within 1\.5 s: held by lease [0-9a-f]+ \(value "nightly-backup on host-a"\)/,
    );
    expect(failure?.holder).toMatchObject({ key: hold.key, value: 'nightly-backup on host-a' });
    expect(await keysUnder(etcd.client(), `${name}/`)).toEqual([hold.key]);
  });

  it('--timeout takes the lock if it is released in time, and runs the command', async () => {
    const name = `${uniquePrefix('ops')}intime`;
    const session = await etcd.session();
    const hold = await new Mutex(session, name).lock();
    const run = cli('lock', '--timeout', '20', name, '--', 'sh', '-c', 'echo ran');
    await waitForKeys(etcd.client(), `${name}/`, 2);
    await hold.release();
    const { code, stdout } = await run.exit();
    expect(code).toBe(0);
    expect(stdout).toContain('ran');
  });

  it('--try and --timeout together are a usage error', async () => {
    const { code, stderr } = await cli('lock', '--try', '--timeout', '3', 'x', '--', 'true').exit();
    expect(code).toBe(2);
    expect(stderr).toMatch(/--timeout.*cannot be used with.*--try/);
  });

  it('exits 76 when the lock is lost while the command runs, even if the command then exits 0', async () => {
    const name = `${uniquePrefix('ops')}lost`;
    const run = cli(
      '--json',
      'lock',
      name,
      '--',
      'sh',
      '-c',
      'trap "exit 0" TERM; echo ready-marker; sleep 30 & wait',
    );
    await run.waitFor(/ready-marker/);
    const [key] = await keysUnder(etcd.client(), `${name}/`);
    await etcd.client().delete().key(key!).exec();
    const { code, stderr } = await run.exit();
    expect(code).toBe(76);
    const exited = stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; commandExitCode?: number; exitCode?: number })
      .find((n) => n.event === 'exited');
    expect(exited).toMatchObject({ commandExitCode: 0, exitCode: 76 });
  });

  it('documents the exit statuses in --help', async () => {
    const top = await cli('--help').exit();
    expect(top.stdout).toMatch(/75 +lock: not acquired/);
    expect(top.stdout).toMatch(/76 +lock: lost while the command ran/);
    expect(top.stdout).toContain('status');
    expect(top.stdout).toContain('ETCDCTL_ENDPOINTS');
    const lock = await cli('lock', '--help').exit();
    expect(lock.stdout).toMatch(/--timeout <seconds>/);
    expect(lock.stdout).toMatch(/--try/);
    expect(lock.stdout).toMatch(/75 +not acquired/);
    expect(lock.stdout).toMatch(/76 +the lock was lost/);
  });
});

interface JsonContender {
  key: string;
  value: string;
  role: 'holder' | 'waiter';
  position: number;
  lease: string;
  leaseId: string;
  createRevision: string;
  ttl: number;
  grantedTtl: number;
  mode?: string;
  weight?: number;
}
interface JsonStatus {
  event: string;
  prefix: string;
  revision: string;
  otherKeys: number;
  primitives: { kind: string; name: string; permits?: number; contenders: JsonContender[] }[];
}

describe('status', { timeout: 60_000 }, () => {
  /** Under a fresh prefix: a held lock with two waiters, an election, a semaphore and an RWMutex. */
  async function scene() {
    const prefix = uniquePrefix('status');
    const client = etcd.client();
    const sessions = await Promise.all([0, 1, 2].map(() => etcd.session(client, { ttl: 30 })));
    const [a, b, c] = sessions as [(typeof sessions)[0], (typeof sessions)[0], (typeof sessions)[0]];
    const stop = new AbortController();
    etcd.defer(() => {
      stop.abort();
    });
    const waiting = (p: Promise<unknown>) => void p.catch(() => undefined);
    const lock = `${prefix}jobs/nightly`;
    const holder = await new Mutex(a, lock, { value: 'host-a pid 1' }).lock();
    waiting(new Mutex(b, lock, { value: 'host-b pid 2' }).lock({ signal: stop.signal }));
    await waitForKeys(client, `${lock}/`, 2);
    waiting(new Mutex(c, lock, { value: 'host-c pid 3' }).lock({ signal: stop.signal }));
    await waitForKeys(client, `${lock}/`, 3);
    const election = `${prefix}election/web`;
    await new Election(b, election).campaign('web-b');
    waiting(new Election(c, election).campaign('web-c', { signal: stop.signal }));
    await waitForKeys(client, `${election}/`, 2);
    const pool = `${prefix}pools/gpu`;
    await new Semaphore(a, pool, { permits: 2 }).acquire({ value: 'gpu-a' });
    await new Semaphore(b, pool, { permits: 2 }).acquire({ value: 'gpu-b' });
    waiting(
      new Semaphore(c, pool, { permits: 2 }).acquire({ value: 'gpu-c', weight: 2, signal: stop.signal }),
    );
    await waitForKeys(client, `${pool}/`, 3);
    const rw = `${prefix}config`;
    await new RWMutex(a, rw).rLock();
    waiting(new RWMutex(b, rw).lock({ signal: stop.signal }));
    await waitForKeys(client, `${rw}/`, 2);
    await client.put(`${prefix}plain-key`).value('not a primitive');
    return { prefix, holder, sessions: { a, b, c }, names: { lock, election, pool, rw } };
  }

  it('--json lists holders first, then waiters in queue order, with leases, TTLs and values', async () => {
    const { prefix, holder, sessions, names } = await scene();
    const { code, stdout } = await cli('status', prefix, '--json').exit();
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const status = JSON.parse(lines[0]!) as JsonStatus;
    expect(status.event).toBe('status');
    expect(status.revision).toMatch(/^\d+$/);
    expect(status.otherKeys).toBe(1);
    const byName = new Map(status.primitives.map((p) => [p.name, p]));
    expect([...byName.keys()].sort()).toEqual(Object.values(names).sort());
    const hex = (s: { leaseId: string }) => BigInt(s.leaseId).toString(16);

    const lock = byName.get(names.lock)!;
    expect(lock.kind).toBe('lock/election');
    expect(lock.contenders.map((c) => [c.role, c.position, c.value, c.lease])).toEqual([
      ['holder', 0, 'host-a pid 1', hex(sessions.a)],
      ['waiter', 1, 'host-b pid 2', hex(sessions.b)],
      ['waiter', 2, 'host-c pid 3', hex(sessions.c)],
    ]);
    expect(lock.contenders[0]).toMatchObject({
      key: holder.key,
      createRevision: holder.fencingToken.toString(),
    });
    for (const c of lock.contenders) {
      expect(c.grantedTtl).toBe(30);
      expect(c.ttl).toBeGreaterThan(0);
      expect(c.ttl).toBeLessThanOrEqual(30);
    }
    expect(BigInt(lock.contenders[1]!.createRevision)).toBeGreaterThan(
      BigInt(lock.contenders[0]!.createRevision),
    );

    const election = byName.get(names.election)!;
    expect(election.contenders.map((c) => [c.role, c.value])).toEqual([
      ['holder', 'web-b'],
      ['waiter', 'web-c'],
    ]);

    const pool = byName.get(names.pool)!;
    expect(pool).toMatchObject({ kind: 'semaphore', permits: 2 });
    expect(pool.contenders.map((c) => [c.role, c.value, c.weight])).toEqual([
      ['holder', 'gpu-a', 1],
      ['holder', 'gpu-b', 1],
      ['waiter', 'gpu-c', 2],
    ]);

    const rw = byName.get(names.rw)!;
    expect(rw.kind).toBe('rwmutex');
    expect(rw.contenders.map((c) => [c.role, c.mode])).toEqual([
      ['holder', 'read'],
      ['waiter', 'write'],
    ]);
  });

  it('prints a table an operator can read: one row per key, the holder first', async () => {
    const { prefix, sessions, names } = await scene();
    const { code, stdout } = await cli('status', prefix).exit();
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^KIND +NAME +ROLE +LEASE +TTL +AGE +WEIGHT +VALUE$/);
    const rowsOf = (name: string) => lines.filter((l) => l.split(/ {2,}/)[1] === name);
    const lock = rowsOf(names.lock);
    expect(lock).toHaveLength(3);
    expect(lock[0]).toMatch(
      new RegExp(
        `^lock/election +${names.lock} +holder +${BigInt(sessions.a.leaseId).toString(16)} +\\d+s/30s +\\d+ revs +host-a pid 1$`,
      ),
    );
    expect(lock[1]).toMatch(/ waiter 1 .*host-b pid 2$/);
    expect(lock[2]).toMatch(/ waiter 2 .*host-c pid 3$/);
    expect(
      rowsOf(names.pool).map((l) => l.match(/(holder|waiter \d) .* (\d of 2) +(gpu-\w)$/)?.slice(1)),
    ).toEqual([
      ['holder', '1 of 2', 'gpu-a'],
      ['holder', '1 of 2', 'gpu-b'],
      ['waiter 1', '2 of 2', 'gpu-c'],
    ]);
    expect(rowsOf(names.rw).map((l) => l.match(/(holder|waiter 1) \((read|write)\)/)?.[0])).toEqual([
      'holder (read)',
      'waiter 1 (write)',
    ]);
    expect(stdout).toMatch(/1 other key under the prefix/);
  });

  it('says so when there is nothing under the prefix', async () => {
    const prefix = uniquePrefix('status-empty');
    const { code, stdout } = await cli('status', prefix).exit();
    expect(code).toBe(0);
    expect(stdout).toContain(`no locks, elections or semaphores under "${prefix}"`);
  });

  it('sees a lock taken by etcdctl', async () => {
    const name = `${uniquePrefix('status')}etcdctl`;
    const holder = spawnProcess('etcdctl', ['--endpoints', endpoints(), 'lock', name], { ETCDCTL_API: '3' });
    const [heldKey] = await holder.waitFor(new RegExp(`${name}/[0-9a-f]+`));
    const { stdout } = await cli('status', `${name}/`, '--json').exit();
    const status = JSON.parse(stdout) as JsonStatus;
    expect(status.primitives).toHaveLength(1);
    expect(status.primitives[0]).toMatchObject({ kind: 'lock/election', name });
    expect(status.primitives[0]!.contenders[0]).toMatchObject({
      key: heldKey,
      role: 'holder',
      grantedTtl: 10, // etcdctl lock's default --ttl
    });
  });
});

describe('bench where it cannot run', { timeout: 60_000 }, () => {
  it('is left out of --help in an installed package (no bench/ next to the code), and says why when run', async () => {
    // An installed package as npm lays it out: the code and package.json, no bench/.
    const dir = await mkdtemp(path.join(tmpdir(), 'cli-installed-'));
    try {
      await cp(path.join(ROOT, 'src'), path.join(dir, 'src'), { recursive: true });
      await cp(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
      await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
      const main = path.join(dir, 'src/cli/main.ts');
      const help = await runTs(main, ['--help']).exit();
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^ +status\b/m);
      expect(help.stdout).not.toMatch(/^ +bench\b/m);
      const bench = await runTs(main, ['bench', '--list']).exit();
      expect(bench.code).toBe(1);
      expect(bench.stderr).toMatch(/the benchmark ships with the source repository/);
      // in the repository it is listed
      expect((await cli('--help').exit()).stdout).toMatch(/^ +bench\b/m);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
