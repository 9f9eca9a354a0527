/**
 * Bad input and misuse of every public entry point: each gets its typed error, quickly, with a
 * message that says what is wrong and what to do — and nothing is written to etcd. Runs against a
 * private single-node etcd, so "nothing written" is checked for the whole keyspace: the store's
 * revision, its key count and its set of leases are the same before and after every call.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { firstValueFrom } from 'rxjs';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Barrier,
  DoubleBarrier,
  Election,
  EtcdUnavailableError,
  InvalidArgumentError,
  Mutex,
  NoLeaderError,
  NotLeaderError,
  RWMutex,
  Semaphore,
  SemaphoreConfigError,
  Session,
  SessionClosedError,
  createClient,
} from '../src/index.js';
import { startEtcd, type EtcdCluster } from './support/etcd.js';

interface Ctx {
  client: Etcd3;
  /** alive */
  session: Session;
  /** closed by its owner: its lease is revoked */
  closed: Session;
  /** created on a client that was closed afterwards */
  onClosedClient: Session;
  closedClient: Etcd3;
  /** nothing listens on its port: connection refused */
  refused: Etcd3;
  /** accepts TCP connections and never answers: a blackhole */
  blackhole: Etcd3;
}

type ErrorClass = abstract new (...args: never[]) => Error;

interface Case {
  entry: string;
  input: string;
  run: (ctx: Ctx) => unknown;
  error: ErrorClass | 'AbortError';
  /** the message says what is wrong / what to do */
  says: RegExp;
  /** default 1000 ms */
  withinMs?: number;
}

const CALL_TIMEOUT_MS = 1000;
const anyValue = (v: unknown) => v as never;

const badNames: [string, unknown][] = [
  ['an empty name', ''],
  ['a non-string name', 42],
  ['an undefined name', undefined],
  ['a name with a trailing slash', 'jobs/'],
];
const nameSays = (what: string, name: unknown) =>
  name === 'jobs/'
    ? new RegExp(`${what} name "jobs/" must not end with "/"`)
    : new RegExp(`${what} name must be a non-empty string`);

const cases: Case[] = [
  // createClient
  ...[[], '', ' , '].map<Case>((endpoints) => ({
    entry: 'createClient',
    input: `endpoints ${JSON.stringify(endpoints)}`,
    run: () => createClient({ endpoints }),
    error: InvalidArgumentError,
    says: /needs at least one etcd endpoint/,
  })),
  ...[0, -1, Number.NaN].map<Case>((callTimeoutMs) => ({
    entry: 'createClient',
    input: `callTimeoutMs ${callTimeoutMs}`,
    run: () => createClient({ endpoints: '127.0.0.1:2379', callTimeoutMs }),
    error: InvalidArgumentError,
    says: /callTimeoutMs must be a positive number of milliseconds/,
  })),
  {
    entry: 'createClient',
    input: 'a TLS CA file that does not exist',
    run: () => createClient({ endpoints: '127.0.0.1:2379', tls: { ca: '/nonexistent/ca.pem' } }),
    error: InvalidArgumentError,
    says: /Cannot read the TLS CA certificate file "\/nonexistent\/ca.pem"/,
  },

  // Session.create
  ...[0, -1, Number.NaN, 1.5, 1e12, Number.POSITIVE_INFINITY, '10'].map<Case>((ttl) => ({
    entry: 'Session.create',
    input: `ttl ${typeof ttl === 'string' ? JSON.stringify(ttl) : String(ttl)}`,
    run: (c) => Session.create(c.client, { ttl: anyValue(ttl) }),
    error: InvalidArgumentError,
    says: /ttl must be a whole number of seconds between 1 and/,
  })),
  {
    entry: 'Session.create',
    input: 'an unknown lease id',
    run: (c) => Session.create(c.client, { leaseId: '7587862612937475091' }),
    error: InvalidArgumentError,
    says: /Lease 694d.* does not exist: it expired, was revoked, or was never granted/,
  },
  {
    entry: 'Session.create',
    input: 'a malformed lease id',
    run: (c) => Session.create(c.client, { leaseId: 'abc' }),
    error: InvalidArgumentError,
    says: /leaseId must be a lease id in decimal/,
  },
  {
    entry: 'Session.create',
    input: 'a namespaced client',
    run: (c) => Session.create(c.client.namespace('app/') as unknown as Etcd3),
    error: InvalidArgumentError,
    says: /needs the root Etcd3 client, not a namespace/,
  },
  {
    entry: 'Session.create',
    input: 'a client that was closed',
    run: (c) => Session.create(c.closedClient, { ttl: 5 }),
    error: InvalidArgumentError,
    says: /client was closed; create a new client/,
  },
  {
    entry: 'Session.create',
    input: 'unreachable endpoints (connection refused)',
    run: (c) => Session.create(c.refused, { ttl: 5 }),
    error: EtcdUnavailableError,
    says: /Cannot reach etcd at 127\.0\.0\.1:1.*Check that etcd is running/,
    withinMs: CALL_TIMEOUT_MS + 1000,
  },
  {
    entry: 'Session.create',
    input: 'unreachable endpoints (a blackhole that never answers)',
    run: (c) => Session.create(c.blackhole, { ttl: 5 }),
    error: EtcdUnavailableError,
    says: /Cannot reach etcd at .*Check that etcd is running/,
    withinMs: CALL_TIMEOUT_MS + 1000,
  },
  {
    entry: 'Session.create',
    input: 'an aborted signal',
    run: (c) => Session.create(c.client, { ttl: 5, signal: AbortSignal.abort() }),
    error: 'AbortError',
    says: /aborted/,
  },

  // Mutex
  ...badNames.map<Case>(([input, name]) => ({
    entry: 'new Mutex',
    input,
    run: (c) => new Mutex(c.session, anyValue(name)),
    error: InvalidArgumentError,
    says: nameSays('Mutex', name),
  })),
  {
    entry: 'new Mutex',
    input: 'a name with a NUL character',
    run: (c) => new Mutex(c.session, 'a\0b'),
    error: InvalidArgumentError,
    says: /must not contain NUL characters/,
  },
  {
    entry: 'new Mutex',
    input: 'a non-string value',
    run: (c) => new Mutex(c.session, 'm/jobs', { value: anyValue(5) }),
    error: InvalidArgumentError,
    says: /Mutex value must be a string/,
  },
  ...(['lock', 'tryLock', 'withLock'] as const).map<Case>((method) => ({
    entry: `Mutex.${method}`,
    input: 'a closed session',
    run: (c) => {
      const m = new Mutex(c.closed, 'm/jobs');
      return method === 'withLock' ? m.withLock(() => 1) : m[method]();
    },
    error: SessionClosedError,
    says: /Session lease [0-9a-f]+ is closed/,
  })),
  {
    entry: 'Mutex.lock',
    input: 'a session whose client was closed',
    run: (c) => new Mutex(c.onClosedClient, 'm/jobs').lock(),
    error: SessionClosedError,
    says: /is closed: the session was orphaned/,
  },
  {
    entry: 'Mutex.lock',
    input: 'an aborted signal',
    run: (c) => new Mutex(c.session, 'm/jobs').lock({ signal: AbortSignal.abort() }),
    error: 'AbortError',
    says: /aborted/,
  },

  // RWMutex
  ...badNames.map<Case>(([input, name]) => ({
    entry: 'new RWMutex',
    input,
    run: (c) => new RWMutex(c.session, anyValue(name)),
    error: InvalidArgumentError,
    says: nameSays('RWMutex', name),
  })),
  ...(['rLock', 'lock', 'tryRLock', 'tryLock'] as const).map<Case>((method) => ({
    entry: `RWMutex.${method}`,
    input: 'a closed session',
    run: (c) => new RWMutex(c.closed, 'rw/config')[method](),
    error: SessionClosedError,
    says: /Session lease [0-9a-f]+ is closed/,
  })),

  // Election
  ...badNames.map<Case>(([input, name]) => ({
    entry: 'new Election',
    input,
    run: (c) => new Election(c.session, anyValue(name)),
    error: InvalidArgumentError,
    says: nameSays('Election', name),
  })),
  {
    entry: 'Election.campaign',
    input: 'a non-string value',
    run: (c) => new Election(c.session, 'e/workers').campaign(anyValue(42)),
    error: InvalidArgumentError,
    says: /Election value must be a string or a Buffer/,
  },
  {
    entry: 'Election.campaign',
    input: 'a closed session',
    run: (c) => new Election(c.closed, 'e/workers').campaign('w1'),
    error: SessionClosedError,
    says: /Session lease [0-9a-f]+ is closed/,
  },
  {
    entry: 'Election.proclaim',
    input: 'a candidate that is not the leader',
    run: (c) => new Election(c.session, 'e/workers').proclaim('w1 at v2'),
    error: NotLeaderError,
    says: /is not the leader; campaign\(\) first/,
  },
  {
    entry: 'Election.leader',
    input: 'an election nobody leads',
    run: (c) => new Election(c.session, 'e/workers').leader(),
    error: NoLeaderError,
    says: /has no leader.*campaign\(\) to become one/,
  },
  {
    entry: 'Election.leader (static)',
    input: 'a name with a trailing slash',
    run: (c) => Election.leader(c.client, 'e/workers/'),
    error: InvalidArgumentError,
    says: /must not end with "\/"/,
  },
  {
    entry: 'Election.leader (static)',
    input: 'unreachable endpoints (connection refused)',
    run: (c) => Election.leader(c.refused, 'e/workers'),
    error: EtcdUnavailableError,
    says: /Cannot reach etcd at 127\.0\.0\.1:1/,
    withinMs: 3000,
  },
  {
    // A call that ran into its deadline is not repeated: one callTimeoutMs against a blackhole.
    entry: 'Election.leader (static)',
    input: 'unreachable endpoints (a blackhole that never answers)',
    run: (c) => Election.leader(c.blackhole, 'e/workers'),
    error: EtcdUnavailableError,
    says: /Cannot reach etcd at/,
    withinMs: CALL_TIMEOUT_MS + 1000,
  },
  {
    entry: 'Election.leader (static)',
    input: 'a client that was closed',
    run: (c) => Election.leader(c.closedClient, 'e/workers'),
    error: InvalidArgumentError,
    says: /client was closed; create a new client/,
  },
  {
    entry: 'Election.observe',
    input: 'a name with a trailing slash',
    run: (c) => Election.observe(c.client, 'e/workers/'),
    error: InvalidArgumentError,
    says: /must not end with "\/"/,
  },
  {
    entry: 'Election.observe',
    input: 'a client that was closed',
    run: (c) => firstValueFrom(Election.observe(c.closedClient, 'e/workers')),
    error: InvalidArgumentError,
    says: /client was closed; create a new client/,
  },

  // Semaphore
  ...badNames.map<Case>(([input, name]) => ({
    entry: 'new Semaphore',
    input,
    run: (c) => new Semaphore(c.session, anyValue(name), { permits: 2 }),
    error: InvalidArgumentError,
    says: nameSays('Semaphore', name),
  })),
  ...[0, -1, 1.5, Number.NaN, undefined, '3'].map<Case>((permits) => ({
    entry: 'new Semaphore',
    input: `permits ${typeof permits === 'string' ? JSON.stringify(permits) : String(permits)}`,
    run: (c) => new Semaphore(c.session, 's/gpu', { permits: anyValue(permits) }),
    error: InvalidArgumentError,
    says: /permits must be a whole number ≥ 1/,
  })),
  ...[0, 4, 1.5, -1].map<Case>((weight) => ({
    entry: 'Semaphore.acquire',
    input: `weight ${weight} with 3 permits`,
    run: (c) => new Semaphore(c.session, 's/gpu', { permits: 3 }).acquire({ weight }),
    error: InvalidArgumentError,
    says: /weight must be a whole number from 1 to its 3 permits/,
  })),
  {
    entry: 'Semaphore.tryAcquire',
    input: 'weight > permits',
    run: (c) => new Semaphore(c.session, 's/gpu', { permits: 3 }).tryAcquire({ weight: 4 }),
    error: InvalidArgumentError,
    says: /weight must be a whole number from 1 to its 3 permits/,
  },
  {
    entry: 'Semaphore.acquire',
    input: 'a closed session',
    run: (c) => new Semaphore(c.closed, 's/gpu', { permits: 3 }).acquire(),
    error: SessionClosedError,
    says: /Session lease [0-9a-f]+ is closed/,
  },
  {
    entry: 'Semaphore.acquire',
    input: 'permits that disagree with etcd’s',
    run: (c) => new Semaphore(c.session, 's/agreed', { permits: 2 }).acquire(),
    error: SemaphoreConfigError,
    says: /has 3 permits in etcd, but this participant was created with 2 permits.*stop every participant/,
  },

  // Barrier and DoubleBarrier
  ...badNames.map<Case>(([input, name]) => ({
    entry: 'new Barrier',
    input,
    run: (c) => new Barrier(c.client, anyValue(name)),
    error: InvalidArgumentError,
    says: nameSays('Barrier', name),
  })),
  ...(['hold', 'wait'] as const).map<Case>((method) => ({
    entry: `Barrier.${method}`,
    input: 'unreachable endpoints (connection refused)',
    run: (c) => new Barrier(c.refused, 'b/gate')[method](),
    error: EtcdUnavailableError,
    says: /Cannot reach etcd at 127\.0\.0\.1:1/,
    withinMs: 3000,
  })),
  ...(['hold', 'release', 'wait'] as const).map<Case>((method) => ({
    entry: `Barrier.${method}`,
    input: 'a client that was closed',
    run: (c) => new Barrier(c.closedClient, 'b/gate')[method](),
    error: InvalidArgumentError,
    says: /client was closed; create a new client/,
  })),
  ...badNames.map<Case>(([input, name]) => ({
    entry: 'new DoubleBarrier',
    input,
    run: (c) => new DoubleBarrier(c.session, anyValue(name), 2),
    error: InvalidArgumentError,
    says: nameSays('DoubleBarrier', name),
  })),
  ...[0, -1, 1.5, Number.NaN].map<Case>((count) => ({
    entry: 'new DoubleBarrier',
    input: `count ${count}`,
    run: (c) => new DoubleBarrier(c.session, 'b/batch', count),
    error: InvalidArgumentError,
    says: /count must be a whole number ≥ 1/,
  })),
  {
    entry: 'DoubleBarrier.enter',
    input: 'a closed session',
    run: (c) => new DoubleBarrier(c.closed, 'b/batch', 2).enter(),
    error: SessionClosedError,
    says: /Session lease [0-9a-f]+ is closed/,
  },
  {
    entry: 'DoubleBarrier.leave',
    input: 'no enter() before',
    run: (c) => new DoubleBarrier(c.session, 'b/batch', 2).leave(),
    error: InvalidArgumentError,
    says: /leave\(\) was called before enter\(\) completed; call enter\(\) first/,
  },
  // Plain-JavaScript misuse that TypeScript already rejects at compile time.
  ...[42, [42]].map<Case>((endpoints) => ({
    entry: 'createClient',
    input: `endpoints ${JSON.stringify(endpoints)}`,
    run: () => createClient({ endpoints: anyValue(endpoints) }),
    error: InvalidArgumentError,
    says: /endpoint/,
  })),
  {
    entry: 'Session.create',
    input: 'something that is not an Etcd3 client (undefined)',
    run: () => Session.create(anyValue(undefined), { ttl: 5 }),
    error: InvalidArgumentError,
    says: /client/,
  },
  {
    entry: 'new Mutex',
    input: 'no session (undefined)',
    run: () => new Mutex(anyValue(undefined), 'm/jobs'),
    error: InvalidArgumentError,
    says: /session/i,
  },
  {
    entry: 'Mutex.lock',
    input: 'a signal that is not an AbortSignal',
    run: (c) => new Mutex(c.session, 'm/jobs').lock({ signal: anyValue('soon') }),
    error: InvalidArgumentError,
    says: /signal/,
  },
];

async function outcome(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    return err;
  }
}

/** The whole store as far as "was anything written?" goes. */
async function snapshot(client: Etcd3) {
  const res = await client.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]), count_only: true });
  const leases = await client.leaseClient.leaseLeases();
  return {
    revision: res.header.revision,
    keys: res.count,
    leases: leases.leases.map((l) => l.ID).sort(),
  };
}

let etcd: EtcdCluster;
const ctx = {} as Ctx;
let blackholeServer: Server;
const blackholeSockets = new Set<Socket>();

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
  ctx.client = createClient({ endpoints: etcd.endpoints });
  ctx.session = await Session.create(ctx.client, { ttl: 30 });
  ctx.closed = await Session.create(ctx.client, { ttl: 30 });
  await ctx.closed.close();
  ctx.closedClient = createClient({ endpoints: etcd.endpoints });
  ctx.onClosedClient = await Session.create(ctx.closedClient, { ttl: 30 });
  ctx.closedClient.close();
  ctx.refused = createClient({ endpoints: '127.0.0.1:1', callTimeoutMs: CALL_TIMEOUT_MS });
  blackholeServer = createServer((socket) => {
    blackholeSockets.add(socket);
    socket.on('close', () => blackholeSockets.delete(socket));
  });
  await new Promise<void>((resolve) => blackholeServer.listen(0, '127.0.0.1', resolve));
  const address = blackholeServer.address();
  if (address === null || typeof address === 'string') throw new Error('blackhole has no port');
  ctx.blackhole = createClient({ endpoints: `127.0.0.1:${address.port}`, callTimeoutMs: CALL_TIMEOUT_MS });
  // The first participant of `s/agreed` settled on 3 permits; the case above disagrees.
  await (await new Semaphore(ctx.session, 's/agreed', { permits: 3 }).acquire()).release();
}, 60_000);

afterAll(async () => {
  await ctx.session.close();
  ctx.onClosedClient.orphan();
  for (const c of [ctx.client, ctx.refused, ctx.blackhole]) c.close();
  for (const s of blackholeSockets) s.destroy();
  await new Promise<void>((resolve) => blackholeServer.close(() => resolve()));
  await etcd.stop();
});

describe('misuse of the public API', () => {
  it.each(cases.map((c) => [`${c.entry} with ${c.input}`, c] as const))(
    '%s: typed error, fast, nothing written',
    async (_, c) => {
      const before = await snapshot(ctx.client);
      const started = performance.now();
      const err = await outcome(() => c.run(ctx));
      const elapsed = performance.now() - started;
      if (c.error === 'AbortError') {
        expect(err).toBeInstanceOf(DOMException);
        expect((err as DOMException).name).toBe('AbortError');
      } else {
        expect(err).toBeInstanceOf(c.error);
      }
      expect((err as Error).message).toMatch(c.says);
      expect(elapsed).toBeLessThan(c.withinMs ?? 1000);
      expect(await snapshot(ctx.client)).toEqual(before);
    },
  );
});
