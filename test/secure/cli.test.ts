import { describe, expect, it } from 'vitest';
import { runTs, useSpawn, type Exit, type Spawned } from '../support/spawn.js';
import { collectOutputs, useSecureEtcd } from './fixture.js';

/**
 * The command-line tool against a TLS + auth etcd, with etcdctl's flags (`--cacert`, `--cert`,
 * `--key`, `--user`) or their environment variables, as a separate process.
 */
const etcd = useSecureEtcd();
useSpawn();
const outputs = collectOutputs(() => {
  const { auth } = etcd.credentials();
  return [auth.user.password, auth.root.password, 'wrong-pw-77aa'];
});

/** Runs the CLI with `args`; ETCD_* variables unset unless given in `env`. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  return runTs('src/cli/main.ts', args, {
    ETCD_ENDPOINTS: '',
    ETCD_CACERT: '',
    ETCD_CERT: '',
    ETCD_KEY: '',
    ETCD_USER: '',
    ...env,
  });
}

/** Waits for the exit and records everything the process printed. */
async function finished(run: Spawned): Promise<Exit> {
  const exit = await run.exit();
  outputs.add(exit.stdout);
  outputs.add(exit.stderr);
  return exit;
}

/**
 * stderr without Node's own warning that grpc-js triggers with IP endpoints over TLS (DEP0123:
 * "Setting the TLS ServerName to an IP address…"), which is not the CLI's to print or suppress,
 * and without the CLI's warning about a password on the command line (`flags()` puts it there).
 */
function ownLines(stderr: string): string[] {
  return stderr
    .trim()
    .split('\n')
    .filter((line) => !/^\(node:\d+\) \[DEP0123\]|^\(Use `node --trace-deprecation/.test(line))
    .filter((line) => !/is on the command line, where other users can read it/.test(line));
}

/** etcdctl-style flags for the limited user. */
function flags(password?: string): string[] {
  const { tls, auth } = etcd.credentials();
  return [
    '--endpoints',
    etcd.cluster().endpoints.join(','),
    '--cacert',
    tls.ca,
    '--cert',
    tls.cert,
    '--key',
    tls.key,
    '--user',
    `${auth.user.username}:${password ?? auth.user.password}`,
  ];
}

describe('etcd-concurrency against a TLS + auth etcd', () => {
  it('lock runs the command holding the lock with --cacert --cert --key --user', async () => {
    const name = etcd.name('cli-lock');
    const run = cli([...flags(), 'lock', name, '--', 'sh', '-c', 'echo "key=$ETCD_LOCK_KEY"']);
    const { code, stdout } = await finished(run);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`key=${name}/[0-9a-f]+`));
    expect(await etcd.root().getAll().prefix(`${name}/`).keys()).toEqual([]);
  });

  it('takes the settings from ETCD_ENDPOINTS, ETCD_CACERT, ETCD_CERT, ETCD_KEY and ETCD_USER', async () => {
    const { tls, auth } = etcd.credentials();
    const name = etcd.name('cli-env');
    const run = cli(['lock', name, '--', 'sh', '-c', 'echo "key=$ETCD_LOCK_KEY"'], {
      ETCD_ENDPOINTS: etcd.cluster().endpoints.join(','),
      ETCD_CACERT: tls.ca,
      ETCD_CERT: tls.cert,
      ETCD_KEY: tls.key,
      ETCD_USER: `${auth.user.username}:${auth.user.password}`,
    });
    const { code, stdout } = await finished(run);
    expect(code).toBe(0);
    expect(stdout).toContain(`key=${name}/`);
  });

  it('elect and observe --json work, and print no secret', async () => {
    const { tls, auth } = etcd.credentials();
    const name = etcd.name('cli-elect');
    const base = flags().slice(0, -2);
    const observer = cli([
      ...base,
      '--user',
      auth.user.username,
      '--password',
      auth.user.password,
      '--json',
      'observe',
      name,
    ]);
    await observer.waitFor(/"leader":null/);
    const candidate = cli([...flags(), '--json', 'elect', name, 'alpha']);
    await observer.waitFor(/"value":"alpha"/);
    candidate.kill('SIGINT');
    await finished(candidate);
    await observer.waitFor(/"value":"alpha"[^]*"leader":null/);
    observer.kill('SIGINT');
    const { code, stdout } = await finished(observer);
    expect(code).toBe(0);
    const leaders = stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { leader: { value: string } | null }).leader?.value ?? null);
    expect(leaders).toEqual([null, 'alpha', null]);
    expect(tls.ca).toBeTruthy();
  });

  it('a wrong password fails with exit status 1 and one line naming the user, not the password', async () => {
    const { auth } = etcd.credentials();
    for (const json of [false, true]) {
      const run = cli([
        ...flags('wrong-pw-77aa'),
        ...(json ? ['--json'] : []),
        'lock',
        etcd.name('x'),
        '--',
        'true',
      ]);
      const { code, stderr } = await finished(run);
      expect(code).toBe(1);
      const lines = ownLines(stderr);
      expect(lines).toHaveLength(1);
      const message = json
        ? (JSON.parse(lines[0]!) as { event: string; name: string; message: string })
        : { event: 'error', name: 'PermissionDeniedError', message: lines[0]! };
      expect(message).toMatchObject({ event: 'error', name: 'PermissionDeniedError' });
      expect(message.message).toContain(`user "${auth.user.username}"`);
      expect(message.message).toContain('authentication failed');
    }
  });

  it('a name outside the granted prefix fails with permission denied, naming key and user', async () => {
    const { auth } = etcd.credentials();
    const { code, stderr } = await finished(cli([...flags(), 'lock', 'forbidden/cli', '--', 'true']));
    expect(code).toBe(1);
    const lines = ownLines(stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^etcd-concurrency: etcd refused the operation on "forbidden\/cli\/[0-9a-f]*"/);
    expect(lines[0]).toContain(`user "${auth.user.username}"`);
  });

  it('without a client certificate it is refused at once, saying so', async () => {
    const { tls, auth } = etcd.credentials();
    const started = performance.now();
    const run = cli([
      '--endpoints',
      etcd.cluster().endpoints.join(','),
      '--cacert',
      tls.ca,
      '--user',
      `${auth.user.username}:${auth.user.password}`,
      'observe',
      etcd.name('no-cert'),
    ]);
    const { code, stderr } = await finished(run);
    expect(code).toBe(1);
    expect(stderr).toContain('etcd did not accept a client certificate');
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
