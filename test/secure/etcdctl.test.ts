import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { Election, LockedError, Mutex, PermissionDeniedError, Session } from '../../src/index.js';
import { collectOutputs, useSecureEtcd } from './fixture.js';

const execFileAsync = promisify(execFile);

/**
 * The recipe of docs/secure-clusters.md ("The role an application needs"), run with the real
 * etcdctl against a TLS + auth etcd, then the library as the user it made. Keep both in sync.
 */
const etcd = useSecureEtcd();
const appPassword = `myapp-pw-${randomBytes(12).toString('hex')}`;
const outputs = collectOutputs(() => {
  const { auth } = etcd.credentials();
  return [auth.user.password, auth.root.password, appPassword];
});

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  }
});

/** etcdctl's TLS flags and endpoints. */
function connection(): string[] {
  const { tls } = etcd.credentials();
  return [
    '--endpoints',
    etcd.cluster().endpoints.join(','),
    '--cacert',
    tls.ca,
    '--cert',
    tls.cert,
    '--key',
    tls.key,
  ];
}

async function etcdctlAsRoot(...args: string[]): Promise<string> {
  const { auth } = etcd.credentials();
  const { stdout, stderr } = await execFileAsync(
    'etcdctl',
    [...connection(), '--user', `${auth.root.username}:${auth.root.password}`, ...args],
    { env: { ...process.env, ETCDCTL_API: '3' } },
  );
  outputs.add(stdout);
  outputs.add(stderr);
  return stdout;
}

describe('The documented etcdctl recipe for an application’s role', () => {
  it('gives a user exactly what every primitive needs under its prefix', async () => {
    await etcdctlAsRoot('role', 'add', 'myapp');
    await etcdctlAsRoot('role', 'grant-permission', '--prefix=true', 'myapp', 'readwrite', 'myapp/');
    await etcdctlAsRoot('user', 'add', 'myapp', '--new-user-password', appPassword);
    await etcdctlAsRoot('user', 'grant-role', 'myapp', 'myapp');

    const { tls } = etcd.credentials();
    const client = etcd.client({ tls, auth: { username: 'myapp', password: appPassword } });
    const session = await Session.create(client, { ttl: 10 });
    etcd.defer(() => session.close());
    const hold = await new Mutex(session, 'myapp/locks/nightly-report').lock();
    await hold.release();
    const election = new Election(session, 'myapp/election/leader');
    await election.campaign('me');
    await election.resign();
    const denied = await outputs.rejection(new Mutex(session, 'locks/x').lock());
    expect(denied).toBeInstanceOf(PermissionDeniedError);
    expect((denied as PermissionDeniedError).user).toBe('myapp');
  });

  it('etcdctl lock, run as the same user over TLS, and our Mutex exclude each other', async () => {
    const { auth } = etcd.credentials();
    const name = etcd.name('etcdctl-lock');
    const child = spawn(
      'etcdctl',
      [...connection(), '--user', `${auth.user.username}:${auth.user.password}`, 'lock', name],
      { env: { ...process.env, ETCDCTL_API: '3' } },
    );
    children.push(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const started = Date.now();
    while (!out.includes(`${name}/`)) {
      if (child.exitCode !== null) throw new Error(`etcdctl exited: ${out}`);
      if (Date.now() - started > 10_000) throw new Error(`etcdctl did not acquire: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const session = await etcd.session(etcd.user());
    const mutex = new Mutex(session, name);
    const locked = await outputs.rejection(mutex.tryLock());
    expect(locked).toBeInstanceOf(LockedError);
    expect((locked as LockedError).holder.key).toBe(out.trim().split('\n')[0]);
    const waiting = mutex.lock();
    child.kill('SIGINT');
    const hold = await waiting;
    await hold.release();
    outputs.add(out);
  });
});
