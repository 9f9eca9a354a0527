/**
 * A private TLS + auth etcd per test file, clients for its users, and a record of every output a
 * test produced (thrown errors, process output, CLI output) to check that no secret leaks.
 */
import { format, inspect } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect } from 'vitest';
import type { ClientOptions } from '../../src/etcd/client.js';
import type { Session, SessionOptions } from '../../src/index.js';
import { useEtcd } from '../support/clients.js';
import { type EtcdCluster, startEtcd } from '../support/etcd.js';
import { uniquePrefix } from '../support/prefix.js';

export interface SecureEtcdOptions {
  members?: 1 | 3;
  /** Tokens expiring after this many seconds (simple: idle seconds; JWT: since issue). */
  tokenTtlSeconds?: number;
  tokenType?: 'simple' | 'jwt';
}

/**
 * Starts a TLS etcd (client certificates required) with auth enabled once for the file: a root
 * user, and `cluster.auth.user` limited to readwrite on `app/`.
 */
export function useSecureEtcd(options: SecureEtcdOptions = {}) {
  let started: EtcdCluster | undefined;
  beforeAll(async () => {
    started = await startEtcd({
      members: options.members ?? 1,
      tls: true,
      auth: {
        ...(options.tokenTtlSeconds === undefined ? {} : { tokenTtlSeconds: options.tokenTtlSeconds }),
        ...(options.tokenType === undefined ? {} : { tokenType: options.tokenType }),
      },
    });
  }, 60_000);
  afterAll(async () => {
    await started?.stop();
  });
  const etcd = useEtcd({ endpoints: () => cluster().endpoints });
  const cluster = (): EtcdCluster => {
    if (!started) throw new Error('the secure etcd is not started yet');
    return started;
  };
  const credentials = () => {
    const { tls, auth } = cluster();
    if (!tls || !auth) throw new Error('the cluster has no TLS or auth');
    return { tls, auth };
  };
  return {
    cluster,
    credentials,
    /** A client of the limited user: TLS with the client certificate, and its password. */
    user(extra: ClientOptions = {}): Etcd3 {
      const { tls, auth } = credentials();
      return etcd.client({ tls, auth: auth.user, ...extra });
    },
    /** A client of root (may read and write everything), to check what the user could not do. */
    root(): Etcd3 {
      const { tls, auth } = credentials();
      return etcd.client({ tls, auth: auth.root });
    },
    /** Any client of the cluster (for refused or partial settings). */
    client(extra: ClientOptions): Etcd3 {
      return etcd.client(extra);
    },
    session(client: Etcd3, sessionOptions: SessionOptions = {}): Promise<Session> {
      return etcd.session(client, sessionOptions);
    },
    /** A fresh name inside the prefix the user may use. */
    name(label: string): string {
      return `${credentials().auth.prefix}${uniquePrefix(label)}${label}`;
    },
    /** Runs `fn` after the test, before sessions and clients are closed. */
    defer(fn: () => Promise<void> | void): void {
      etcd.defer(fn);
    },
  };
}

/**
 * Everything a test file let out — thrown errors in every form a program might print or log them
 * (message, `String`, `JSON.stringify`, `util.inspect` with their `cause` chains) and whatever the
 * process wrote to stdout/stderr — checked at the end of the file for the secrets given.
 */
export function collectOutputs(secrets: () => string[]) {
  const outputs: string[] = [];
  const restore: (() => void)[] = [];
  beforeAll(() => {
    // vitest routes console.* around process.stdout, so both are wrapped.
    for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      restore.push(intercept(console, method, (args) => outputs.push(format(...args))));
    }
    for (const stream of [process.stdout, process.stderr]) {
      restore.push(
        intercept(stream, 'write', ([chunk]) => {
          outputs.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
        }),
      );
    }
  });
  afterAll(() => {
    for (const undo of restore.splice(0).reverse()) undo();
    const all = outputs.join('\n');
    const leaked = secrets().filter((s) => s.length > 0 && all.includes(s));
    expect(leaked, 'secrets found in errors or output').toEqual([]);
  });
  return {
    /** Records `text` (CLI output, a log line) for the final check. */
    add(text: string): void {
      outputs.push(text);
    },
    /** Records an error in every printable form, following its `cause` chain; returns it. */
    error<E>(err: E): E {
      outputs.push(String(err), toJson(err), inspect(err, { depth: Infinity, showHidden: true }));
      let cause: unknown = err;
      for (let i = 0; i < 10 && cause instanceof Error; i++) {
        outputs.push(String(cause), cause.stack ?? '', toJson(cause));
        cause = cause.cause;
      }
      return err;
    },
    /** Resolves with the rejection of `promise` (recorded), failing if it fulfils. */
    async rejection(promise: Promise<unknown>): Promise<unknown> {
      let result: unknown;
      try {
        result = await promise;
      } catch (err) {
        return this.error(err);
      }
      throw new Error(`expected a rejection, got ${inspect(result, { depth: 1 })}`);
    },
  };
}

/** Makes `target[key]()` also call `record` with its arguments; returns the undo. */
function intercept<T extends object>(target: T, key: keyof T & string, record: (args: unknown[]) => void) {
  const own = Object.getOwnPropertyDescriptor(target, key);
  const original = Reflect.get(target, key) as (...args: unknown[]) => unknown;
  Object.defineProperty(target, key, {
    configurable: true,
    writable: true,
    value: function (this: unknown, ...args: unknown[]) {
      record(args);
      return Reflect.apply(original, this, args);
    },
  });
  return () => {
    if (own) Object.defineProperty(target, key, own);
    else Reflect.deleteProperty(target, key);
  };
}

/** `JSON.stringify`, as a JSON logger would, with bigints (revisions) as strings. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? '';
}

/** The auth token a client currently uses (a bearer secret too), read from etcd3's cache. */
export async function tokenOf(client: Etcd3): Promise<string | undefined> {
  const authenticator = (
    client as unknown as { pool: { authenticator: { getMetadata(): Promise<unknown> } } }
  ).pool.authenticator;
  const metadata = (await authenticator.getMetadata()) as { get(key: string): unknown[] };
  const token = metadata.get('token')[0];
  return typeof token === 'string' ? token : undefined;
}

/** Counts etcd3's Authenticate calls on `client` (each one a new token). */
export function countAuthentications(client: Etcd3): () => number {
  const authenticator = (
    client as unknown as {
      pool: { authenticator: { getCredentialsFromHost(...args: unknown[]): Promise<string> } };
    }
  ).pool.authenticator;
  const original = authenticator.getCredentialsFromHost.bind(authenticator);
  let count = 0;
  authenticator.getCredentialsFromHost = (...args: unknown[]) => {
    count++;
    return original(...args);
  };
  return () => count;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
