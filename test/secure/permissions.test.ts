import { firstValueFrom } from 'rxjs';
import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import {
  Barrier,
  DoubleBarrier,
  Election,
  Mutex,
  PermissionDeniedError,
  RWMutex,
  Semaphore,
  Session,
  type Session as SessionType,
} from '../../src/index.js';
import { randomBytes } from 'node:crypto';
import { collectOutputs, sleep, useSecureEtcd } from './fixture.js';

const etcd = useSecureEtcd();
const outputs = collectOutputs(() => {
  const { auth } = etcd.credentials();
  return [auth.user.password, auth.root.password];
});

/** Counts every RPC and stream etcd3 starts on `client` (each goes through its pool's withConnection). */
function countRpcs(client: Etcd3): () => number {
  const pool = (client as unknown as { pool: { withConnection: (...args: unknown[]) => Promise<unknown> } })
    .pool;
  const original = pool.withConnection.bind(pool);
  let count = 0;
  pool.withConnection = (...args: unknown[]) => {
    count++;
    return original(...args);
  };
  return () => count;
}

/** A name outside the user's prefix. */
const forbidden = (label: string) => `forbidden/${randomBytes(4).toString('hex')}/${label}`;

interface Case {
  what: string;
  /** Runs the operation on a forbidden name; returns the promise that must reject. */
  run: (session: SessionType, client: Etcd3, name: string) => Promise<unknown>;
}

const cases: Case[] = [
  { what: 'Mutex.lock', run: (s, _, name) => new Mutex(s, name).lock() },
  { what: 'Mutex.tryLock', run: (s, _, name) => new Mutex(s, name).tryLock() },
  { what: 'RWMutex.rLock', run: (s, _, name) => new RWMutex(s, name).rLock() },
  { what: 'RWMutex.lock', run: (s, _, name) => new RWMutex(s, name).lock() },
  { what: 'Election.campaign', run: (s, _, name) => new Election(s, name).campaign('me') },
  { what: 'Election.leader', run: (_, c, name) => Election.leader(c, name) },
  { what: 'Election.observe', run: (_, c, name) => firstValueFrom(Election.observe(c, name)) },
  { what: 'Barrier.hold', run: (_, c, name) => new Barrier(c, name).hold() },
  { what: 'Barrier.wait', run: (_, c, name) => new Barrier(c, name).wait() },
  { what: 'Barrier.release', run: (_, c, name) => new Barrier(c, name).release() },
  { what: 'DoubleBarrier.enter', run: (s, _, name) => new DoubleBarrier(s, name, 2).enter() },
  { what: 'Semaphore.acquire', run: (s, _, name) => new Semaphore(s, name, { permits: 2 }).acquire() },
  { what: 'Semaphore.tryAcquire', run: (s, _, name) => new Semaphore(s, name, { permits: 2 }).tryAcquire() },
  {
    what: 'Semaphore.holders$',
    run: (s, _, name) => firstValueFrom(new Semaphore(s, name, { permits: 2 }).holders$),
  },
];

describe('A primitive used outside the user’s prefix', () => {
  it.each(cases)(
    '$what fails at once with PermissionDeniedError naming the key and user, writes nothing, retries nothing',
    async ({ run }) => {
      const { auth } = etcd.credentials();
      const client = etcd.user();
      const session = await etcd.session(client, { ttl: 10 });
      const rpcs = countRpcs(client);
      const name = forbidden('x');
      const started = performance.now();
      const err = await outputs.rejection(run(session, client, name));
      const elapsed = performance.now() - started;
      expect(err).toBeInstanceOf(PermissionDeniedError);
      const denied = err as PermissionDeniedError;
      expect(denied.user).toBe(auth.user.username);
      expect(denied.key).toBeDefined();
      expect(denied.key!.startsWith(name)).toBe(true);
      expect(denied.message).toContain(`"${denied.key!}"`);
      expect(denied.message).toContain(`user "${auth.user.username}"`);
      expect(denied.message).toContain('permission denied');
      expect(elapsed).toBeLessThan(1000);
      // No retry loop: nothing more reaches etcd once the error is out.
      const after = rpcs();
      await sleep(500);
      expect(rpcs()).toBe(after);
      expect(after).toBeLessThanOrEqual(3);
      expect(await etcd.root().getAll().prefix('forbidden/').keys()).toEqual([]);
      // The session is unharmed and usable inside the prefix.
      expect(session.currentState).toBe('alive');
      const hold = await new Mutex(session, etcd.name('still-fine')).lock();
      await hold.release();
    },
  );

  it('a read-only role may observe an election and read its leader, but not campaign', async () => {
    const root = etcd.root();
    const { tls } = etcd.credentials();
    const suffix = randomBytes(3).toString('hex');
    const role = `observer-${suffix}`;
    const username = `observer-${suffix}`;
    const password = `pw-${randomBytes(12).toString('hex')}`;
    await root.auth.roleAdd({ name: role });
    await root.auth.roleGrantPermission({
      name: role,
      // etcdctl role grant-permission --prefix=true <role> read app/
      perm: { permType: 'Read', key: Buffer.from('app/'), range_end: Buffer.from('app0') },
    });
    await root.auth.userAdd({ name: username, password });
    await root.auth.userGrantRole({ user: username, role });
    etcd.defer(async () => {
      await root.auth.userDelete({ name: username });
      await root.auth.roleDelete({ role });
    });
    const name = etcd.name('read-only');
    const leader = new Election(await etcd.session(etcd.user()), name);
    await leader.campaign('the-leader');
    const observer = etcd.client({ tls, auth: { username, password } });
    const seen = await firstValueFrom(Election.observe(observer, name));
    expect(seen?.value).toBe('the-leader');
    expect((await Election.leader(observer, name)).value).toBe('the-leader');
    const session = await etcd.session(observer);
    const err = await outputs.rejection(new Election(session, name).campaign('me'));
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect((err as PermissionDeniedError).user).toBe(username);
    await leader.resign();
  });

  it('a session needs no key permission: a user without any role may hold a lease', async () => {
    const root = etcd.root();
    const username = `no-roles-${randomBytes(3).toString('hex')}`;
    const password = `pw-${randomBytes(12).toString('hex')}`;
    await root.auth.userAdd({ name: username, password });
    etcd.defer(async () => {
      await root.auth.userDelete({ name: username });
    });
    const { tls } = etcd.credentials();
    const client = etcd.client({ tls, auth: { username, password } });
    const session = await Session.create(client, { ttl: 5 });
    const renewal = await firstValueFrom(session.keepAlive$);
    expect(renewal.ttl).toBeGreaterThan(0);
    const err = outputs.error(await new Mutex(session, etcd.name('no-role')).lock().catch((e: unknown) => e));
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect((err as PermissionDeniedError).user).toBe(username);
    await session.close();
    const text = [String(err), JSON.stringify(err)].join('\n');
    expect(text).not.toContain(password);
  });
});
