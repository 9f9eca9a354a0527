import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createClient, type ClientOptions } from '../../src/etcd/client.js';
import { Session, type SessionOptions } from '../../src/session/session.js';
import { sharedEtcdEndpoints, startEtcd, type EtcdCluster, type StartEtcdOptions } from './etcd.js';

/**
 * Clients and sessions a test file creates, torn down after each test in the order etcd3 needs
 * (sessions first, then clients), so the run exits on its own.
 */
export function useEtcd(defaults: { endpoints?: () => string[] } = {}) {
  const clients: Etcd3[] = [];
  const sessions: Session[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];

  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
    for (const s of sessions.splice(0)) {
      // A session whose etcd is gone cannot revoke; orphaning still stops its timers.
      await s.close().catch(() => {
        s.orphan();
      });
    }
    for (const c of clients.splice(0)) c.close();
  });

  const etcd = {
    client(options: ClientOptions = {}): Etcd3 {
      const client = createClient({ endpoints: (defaults.endpoints ?? sharedEtcdEndpoints)(), ...options });
      clients.push(client);
      return client;
    },
    async session(client?: Etcd3, options: SessionOptions = {}): Promise<Session> {
      const session = await Session.create(client ?? etcd.client(), { ttl: 10, ...options });
      sessions.push(session);
      return session;
    },
    /** Runs `fn` after the test, before sessions and clients are closed. */
    defer(fn: () => Promise<void> | void): void {
      cleanups.push(fn);
    },
  };
  return etcd;
}

/** Resolves when `predicate` holds, checked on every event of `source`-driven state via polling `check`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
) {
  const start = Date.now();
  for (;;) {
    if (await check()) return;
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Blocks the event loop for `ms` milliseconds, as a long GC pause or a CPU-bound task would. */
export function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    /* busy */
  }
}

/**
 * A private etcd for the test file (started before its tests, stopped after), for tests that kill,
 * freeze, restart or wipe members, plus clients and sessions on it as {@link useEtcd} gives.
 */
export function usePrivateEtcd(options: StartEtcdOptions = {}) {
  let cluster: EtcdCluster | undefined;
  const current = (): EtcdCluster => {
    if (!cluster) throw new Error('usePrivateEtcd: the cluster is only there inside tests');
    return cluster;
  };
  beforeAll(async () => {
    cluster = await startEtcd(options);
  });
  afterAll(async () => {
    await cluster?.stop();
    cluster = undefined;
  });
  const etcd = useEtcd({ endpoints: () => current().endpoints });
  return { ...etcd, cluster: current } as const;
}

/** The keys under `prefix`, as etcd has them now. */
export function keysUnder(client: Etcd3, prefix: string): Promise<string[]> {
  return client.getAll().prefix(prefix).keys();
}

/**
 * Resolves once `prefix` holds at least `count` keys (or exactly `count`, with `exactly`): how a
 * test knows a contender has queued before it acts.
 */
export async function waitForKeys(
  client: Etcd3,
  prefix: string,
  count: number,
  { exactly = false }: { exactly?: boolean } = {},
): Promise<void> {
  await eventually(
    async () => {
      const n = (await keysUnder(client, prefix)).length;
      return exactly ? n === count : n >= count;
    },
    5000,
    `${exactly ? '' : 'at least '}${count} keys under ${prefix}`,
  );
}
