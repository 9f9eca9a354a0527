import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { runTs, useSpawn } from '../support/spawn.js';

/**
 * The command-line tool as a user calls it: a separate process (`node --import tsx
 * src/cli/main.ts`, the same code as the built bin) against the tests' shared etcd.
 */
const etcd = useEtcd();
useSpawn();

const cli = (...args: string[]) => runTs('src/cli/main.ts', args);

async function keysUnder(prefix: string): Promise<string[]> {
  return etcd.client().getAll().prefix(prefix).keys();
}

describe('etcd-concurrency --help', { timeout: 60_000 }, () => {
  it('lists the subcommands and the global etcdctl-style flags', async () => {
    const { code, stdout } = await cli('--help').exit();
    expect(code).toBe(0);
    for (const word of [
      'lock',
      'elect',
      'observe',
      'status',
      'bench',
      '--endpoints',
      '--cacert',
      '--user',
      '--json',
    ]) {
      expect(stdout).toContain(word);
    }
  });

  it('explains each subcommand', async () => {
    const lock = await cli('lock', '--help').exit();
    expect(lock.code).toBe(0);
    expect(lock.stdout).toMatch(/ETCD_LOCK_KEY/);
    expect(lock.stdout).toMatch(/--ttl <seconds>/);
    for (const sub of ['elect', 'observe', 'bench']) {
      const { code, stdout } = await cli(sub, '--help').exit();
      expect(code).toBe(0);
      expect(stdout).toContain(`Usage: etcd-concurrency ${sub}`);
    }
  });
});

describe('bad arguments', { timeout: 60_000 }, () => {
  it.each([
    [['lock'], /missing required argument 'name'/],
    [['lock', 'x', '--ttl', '0', '--', 'true'], /--ttl.*positive whole number/],
    [['lock', 'x', '--ttl', '10', '--grace', '12', '--', 'true'], /--grace .* must be shorter than --ttl/],
    [['lock', 'x', 'ls', '-la'], /unknown option '-la'.*after --/],
    [['elect', 'x'], /missing required argument 'proposal'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ])('%j is a usage error: one line on stderr, exit status 2', async (args, message) => {
    const { code, stderr, stdout } = await cli(...args).exit();
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^etcd-concurrency: /);
    expect(stderr).toMatch(message);
  });

  it('says which endpoints it cannot reach, in one line, with exit status 1', async () => {
    const { code, stderr } = await runTs('src/cli/main.ts', ['lock', 'x', '--', 'true'], {
      ETCD_ENDPOINTS: '127.0.0.1:1',
    }).exit();
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^etcd-concurrency: Cannot reach etcd at 127\.0\.0\.1:1/);
  });

  it('never prints a password it was given', async () => {
    const { code, stderr } = await cli(
      '--endpoints',
      '127.0.0.1:1',
      '--user',
      'alice:s3cret-pw',
      'observe',
      'x',
    ).exit();
    expect(code).toBe(1);
    expect(stderr).not.toContain('s3cret-pw');
    const missing = await cli('--user', 'alice', 'observe', 'x').exit();
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/--user alice needs a password/);
  });
});

describe('etcd-concurrency lock', { timeout: 60_000 }, () => {
  it('runs the command holding the lock, with ETCD_LOCK_KEY and ETCD_LOCK_REV as etcdctl sets them', async () => {
    const name = `${uniquePrefix('cli')}lock`;
    const run = cli(
      'lock',
      name,
      '--',
      'sh',
      '-c',
      'echo "key=$ETCD_LOCK_KEY rev=$ETCD_LOCK_REV"; sleep 0.5',
    );
    const [, key, rev] = await run.waitFor(/key=(\S+) rev=(\d+)/);
    expect(key).toMatch(new RegExp(`^${name}/[0-9a-f]+$`));
    const held = await etcd.client().get(key!).exec();
    expect(held.kvs[0]?.create_revision).toBe(rev);
    const { code } = await run.exit();
    expect(code).toBe(0);
    expect(await keysUnder(`${name}/`)).toEqual([]);
  });

  it("passes the command's exit status through and releases the lock", async () => {
    const name = `${uniquePrefix('cli')}exit`;
    expect((await cli('lock', name, '--', 'sh', '-c', 'exit 7').exit()).code).toBe(7);
    expect((await cli('lock', name, '--', 'sh', '-c', 'kill -KILL $$').exit()).code).toBe(128 + 9);
    expect((await cli('lock', name, '--', 'no-such-command-here').exit()).code).toBe(127);
    expect(await keysUnder(`${name}/`)).toEqual([]);
  });

  it('makes a second lock on the same name wait until the first command has finished', async () => {
    const name = `${uniquePrefix('cli')}exclusive`;
    const gate = path.join(await mkdtemp(path.join(tmpdir(), 'cli-gate-')), 'open');
    // The first command holds the lock until the test opens the gate.
    const first = cli(
      'lock',
      name,
      '--',
      'sh',
      '-c',
      `echo first-in; while [ ! -e ${gate} ]; do sleep 0.05; done; echo first-out`,
    );
    await first.waitFor(/first-in/);
    const second = cli('lock', name, '--', 'sh', '-c', 'echo second-in');
    await second.waitFor(/waiting for lock .* held by lease [0-9a-f]+/);
    await new Promise((r) => setTimeout(r, 300));
    expect(second.stdout).not.toContain('second-in');
    await writeFile(gate, '');
    await second.waitFor(/second-in/);
    expect(first.stdout).toContain('first-out');
    expect((await first.exit()).code).toBe(0);
    expect((await second.exit()).code).toBe(0);
    await rm(path.dirname(gate), { recursive: true, force: true });
  });

  it('stops the command with SIGTERM when the lock is lost, and exits 76', async () => {
    const name = `${uniquePrefix('cli')}lost`;
    const run = cli(
      'lock',
      '--ttl',
      '3',
      name,
      '--',
      'sh',
      '-c',
      'trap "echo got-TERM; exit 0" TERM; sleep 30 & echo ready-marker; wait',
    );
    await run.waitFor(/ready-marker/);
    const [key] = await keysUnder(`${name}/`);
    await etcd.client().delete().key(key!).exec();
    // Exits promptly only if the background sleep, which holds our stdout, was killed too.
    const { code, stderr, stdout } = await run.exit();
    expect(stdout).toContain('got-TERM');
    expect(stderr).toMatch(/lock ".*lost\b.*deleted/);
    expect(code).toBe(76); // the command said 0, but its work was not all done under the lock
  });

  it('SIGKILLs a command that ignores SIGTERM after the grace period', async () => {
    const name = `${uniquePrefix('cli')}stubborn`;
    const run = cli(
      'lock',
      '--ttl',
      '10',
      '--grace',
      '0.5',
      name,
      '--',
      'sh',
      '-c',
      'trap "" TERM; echo ready-marker; sleep 30',
    );
    await run.waitFor(/ready-marker/);
    const [key] = await keysUnder(`${name}/`);
    const deletedAt = Date.now();
    await etcd.client().delete().key(key!).exec();
    const { code, stderr } = await run.exit();
    expect(code).toBe(76);
    expect(stderr).toContain(`ended with status ${128 + 9} after the lock was lost`);
    expect(Date.now() - deletedAt).toBeLessThan(5000);
  });

  it('forwards SIGTERM to the command and releases the lock after it exits', async () => {
    // A Node child, not sh: sh defers trapped signals and its background jobs can miss one.
    const name = `${uniquePrefix('cli')}signal`;
    const child = [
      "process.on('SIGTERM', () => { console.log('got-TERM'); process.exit(5); });",
      "console.log('ready-marker');",
      'setInterval(() => {}, 1000);',
    ].join(' ');
    const run = cli('lock', name, '--', process.execPath, '-e', child);
    await run.waitFor(/ready-marker/);
    run.kill('SIGTERM');
    const { code, stdout } = await run.exit();
    expect(stdout).toContain('got-TERM');
    expect(code).toBe(5);
    expect(await keysUnder(`${name}/`)).toEqual([]);
  });

  it('without a command holds the lock until Ctrl-C; --json prints events', async () => {
    const name = `${uniquePrefix('cli')}hold`;
    const run = cli('--json', 'lock', name);
    await run.waitFor(/"event":"acquired"/);
    const acquired = JSON.parse(run.stdout.trim().split('\n')[0]!) as { key: string; fencingToken: string };
    expect(acquired.key).toMatch(new RegExp(`^${name}/[0-9a-f]+$`));
    expect(await keysUnder(`${name}/`)).toEqual([acquired.key]);
    run.kill('SIGINT');
    const { code, stdout } = await run.exit();
    expect(code).toBe(0);
    expect(stdout).toMatch(/"event":"released"/);
    expect(await keysUnder(`${name}/`)).toEqual([]);
  });
});

describe('etcd-concurrency elect and observe', { timeout: 60_000 }, () => {
  it('elect prints leadership, resigns on Ctrl-C, and the next candidate takes over; observe prints each leader', async () => {
    const name = `${uniquePrefix('cli')}election`;
    const observer = cli('observe', name);
    await observer.waitFor(/no leader/);
    const alpha = cli('elect', name, 'alpha');
    await alpha.waitFor(/elected: this process leads/);
    const beta = cli('elect', name, 'beta');
    await beta.waitFor(/leader "alpha"/);
    expect(beta.stdout).not.toMatch(/elected/);
    alpha.kill('SIGINT');
    expect((await alpha.exit()).code).toBe(0);
    expect(alpha.stdout).toMatch(/resigned/);
    await beta.waitFor(/elected: this process leads/);
    await observer.waitFor(/leader "beta"/);
    beta.kill('SIGINT');
    await observer.waitFor(/leader "beta"[^]*no leader/);
    observer.kill('SIGINT');
    expect((await beta.exit()).code).toBe(0);
    expect((await observer.exit()).code).toBe(0);
    expect(observer.stdout).toMatch(/no leader[^]*leader "alpha"[^]*leader "beta"[^]*no leader/);
    expect(await keysUnder(`${name}/`)).toEqual([]);
  });

  it('observe --json prints one JSON object per leader change', async () => {
    const name = `${uniquePrefix('cli')}json`;
    const observer = cli('observe', name, '--json');
    await observer.waitFor(/"leader":null/);
    const candidate = cli('elect', name, 'gamma');
    await observer.waitFor(/"value":"gamma"/);
    candidate.kill('SIGINT');
    await candidate.exit();
    await observer.waitFor(/"value":"gamma"[^]*"leader":null/);
    observer.kill('SIGINT');
    await observer.exit();
    const events = observer.stdout
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as { event: string; leader: { value: string; createRevision: string } | null },
      );
    expect(events.map((e) => e.leader?.value ?? null)).toEqual([null, 'gamma', null]);
    expect(events[1]?.leader?.createRevision).toMatch(/^\d+$/);
  });
});

describe('etcd-concurrency bench', { timeout: 60_000 }, () => {
  it('runs the repository benchmark, passing its options through', async () => {
    const all = await cli('bench', '--list').exit();
    expect(all.code).toBe(0);
    const ids = all.stdout.trim().split('\n');
    expect(ids.length).toBeGreaterThan(3);
    expect(ids.some((id) => id.includes('mutex'))).toBe(true);
    const only = await cli('bench', '--list', '--only', 'mutex').exit();
    expect(only.code).toBe(0);
    const filtered = only.stdout.trim().split('\n');
    expect(filtered.length).toBeGreaterThan(0);
    expect(filtered.length).toBeLessThan(ids.length);
    expect(filtered.every((id) => id.includes('mutex'))).toBe(true);
    const own = await cli('bench', '--list', '--clients', 'own', '--skip-go').exit();
    expect(own.code).toBe(0);
    const owned = own.stdout.trim().split('\n');
    expect(owned.length).toBeGreaterThan(0);
    expect(owned.every((id) => id.includes('/own/') && !id.includes('/go/'))).toBe(true);
    // --repeat reaches the benchmark, which checks it.
    const repeat = await cli('bench', '--list', '--repeat', '0').exit();
    expect(repeat.code).not.toBe(0);
    expect(repeat.stderr).toContain('--repeat must be a positive integer');
  });
});
