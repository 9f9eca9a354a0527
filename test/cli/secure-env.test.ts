import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Mutex } from '../../src/index.js';
import { collectOutputs, useSecureEtcd } from '../secure/fixture.js';
import { ROOT, runTs, useSpawn, type Exit } from '../support/spawn.js';

/**
 * An operator's etcdctl shell against a TLS + auth etcd: ETCDCTL_* variables only, a password
 * from the environment or stdin (no warning), or on the command line (a warning, never the
 * password itself).
 */
const etcd = useSecureEtcd();
useSpawn();
const outputs = collectOutputs(() => {
  const { auth } = etcd.credentials();
  return [auth.user.password, auth.root.password];
});

/** etcdctl's TLS variables, and no ETCD_* ones (the harness sets ETCD_ENDPOINTS). */
function etcdctlEnv(): NodeJS.ProcessEnv {
  const { tls } = etcd.credentials();
  return {
    ETCD_ENDPOINTS: '',
    ETCDCTL_ENDPOINTS: etcd.cluster().endpoints.join(','),
    ETCDCTL_CACERT: tls.ca,
    ETCDCTL_CERT: tls.cert,
    ETCDCTL_KEY: tls.key,
  };
}

async function finished(run: ReturnType<typeof runTs>): Promise<Exit> {
  const exit = await run.exit();
  outputs.add(exit.stdout);
  outputs.add(exit.stderr);
  return exit;
}

/** The CLI with `input` piped to its stdin (the harness' spawn gives no stdin). */
function cliWithStdin(args: string[], env: NodeJS.ProcessEnv, input: string): Promise<Exit> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, FORCE_COLOR: '0', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      outputs.add(stdout);
      outputs.add(stderr);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const warning = /password of "app-user" is on the command line/;

describe('the CLI with etcdctl variables against TLS + auth', { timeout: 60_000 }, () => {
  it('works from ETCDCTL_ENDPOINTS, _CACERT, _CERT, _KEY, _USER and _PASSWORD alone, without a warning', async () => {
    const { auth } = etcd.credentials();
    const name = etcd.name('env');
    const { code, stdout, stderr } = await finished(
      runTs('src/cli/main.ts', ['lock', name, '--', 'sh', '-c', 'echo "key=$ETCD_LOCK_KEY"'], {
        ...etcdctlEnv(),
        ETCDCTL_USER: auth.user.username,
        ETCDCTL_PASSWORD: auth.user.password,
      }),
    );
    expect(code).toBe(0);
    expect(stdout).toContain(`key=${name}/`);
    expect(stderr).not.toMatch(warning);
  });

  it('warns when the password is on the command line, naming the user only', async () => {
    const { auth } = etcd.credentials();
    const name = etcd.name('argv');
    for (const flags of [
      ['--user', `${auth.user.username}:${auth.user.password}`],
      ['--user', auth.user.username, '--password', auth.user.password],
    ]) {
      const { code, stderr } = await finished(
        runTs('src/cli/main.ts', [...flags, 'lock', name, '--', 'true'], etcdctlEnv()),
      );
      expect(code).toBe(0);
      expect(stderr).toMatch(warning);
      expect(stderr).toMatch(/set ETCDCTL_PASSWORD instead/);
    }
  });

  it('reads the password from stdin when --user has none, and leaves the rest of stdin to the command', async () => {
    const { auth } = etcd.credentials();
    const name = etcd.name('stdin');
    const { code, stdout, stderr } = await cliWithStdin(
      ['--user', auth.user.username, 'lock', name, '--', 'sh', '-c', 'read line; echo "child got $line"'],
      etcdctlEnv(),
      `${auth.user.password}\nfor-the-command\n`,
    );
    expect(stderr).not.toMatch(warning);
    expect(code).toBe(0);
    expect(stdout).toContain('child got for-the-command');
    const none = await cliWithStdin(['--user', auth.user.username, 'status', name], etcdctlEnv(), '');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/--user app-user needs a password/);
  });

  it('status shows a lock held by the limited user, and no secret', async () => {
    const { auth } = etcd.credentials();
    const name = etcd.name('status');
    const session = await etcd.session(etcd.user());
    await new Mutex(session, name, { value: 'held-by-test' }).lock();
    const { code, stdout } = await finished(
      runTs('src/cli/main.ts', ['status', auth.prefix, '--json'], {
        ...etcdctlEnv(),
        ETCDCTL_USER: `${auth.user.username}:${auth.user.password}`,
      }),
    );
    expect(code).toBe(0);
    const status = JSON.parse(stdout) as {
      primitives: { name: string; contenders: { value: string; ttl: number }[] }[];
    };
    const lock = status.primitives.find((p) => p.name === name);
    expect(lock?.contenders.map((c) => c.value)).toEqual(['held-by-test']);
  });
});
