import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import {
  DoubleBarrier,
  Election,
  EtcdUnavailableError,
  Mutex,
  RWMutex,
  Semaphore,
  type Session,
} from '../../src/index.js';
import { keysUnder, usePrivateEtcd, waitForKeys } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { startProxy, type TcpProxy } from '../support/proxy.js';

/**
 * Issue 12, bugs 4, 5 and 6: a reply that etcd executed but the client never got. The contender's
 * client talks to etcd through a loopback proxy that forwards its requests and swallows etcd's
 * answers for 1.5 s, then drops the connections: the enqueue transaction creates the key, the
 * client sees a deadline, retries after reconnecting and finds the key on its own lease. That key
 * is this call's: an aborted or refused call must delete it, and nothing may count it twice.
 * The holder ahead lives on the same client, so the client's view of the queue is already up and
 * the lost reply is the enqueue transaction's.
 */
const etcd = usePrivateEtcd();

const LOST_MS = 1500;

async function throughProxy(): Promise<{ proxy: TcpProxy; client: Etcd3; session: Session }> {
  const proxy = await startProxy(etcd.cluster().endpoints[0]!);
  etcd.defer(() => proxy.close());
  const client = etcd.client({ endpoints: [proxy.endpoint], callTimeoutMs: 1000 });
  const session = await etcd.session(client, { ttl: 20 });
  return { proxy, client, session };
}

/**
 * From the next call this client makes (the one under test), etcd executes every request and
 * the client gets no answer; after LOST_MS the connections are reset and the client reconnects.
 */
async function loseRepliesFromNextCall(proxy: TcpProxy): Promise<void> {
  await proxy.blackholeRepliesFromNextRequest();
  await new Promise((r) => setTimeout(r, LOST_MS));
  proxy.restore();
  proxy.reset();
}

interface Case {
  kind: string;
  hold(session: Session, name: string): Promise<{ key: string }>;
  /** The call whose enqueue reply is lost. */
  call(session: Session, name: string, signal: AbortSignal): Promise<unknown>;
}

const waiting: Case[] = [
  {
    kind: 'Mutex.lock()',
    hold: (s, n) => new Mutex(s, n).lock(),
    call: (s, n, signal) => new Mutex(s, n).lock({ signal }),
  },
  {
    kind: 'RWMutex.lock()',
    hold: (s, n) => new RWMutex(s, n).rLock(),
    call: (s, n, signal) => new RWMutex(s, n).lock({ signal }),
  },
  {
    kind: 'Semaphore.acquire()',
    hold: (s, n) => new Semaphore(s, n, { permits: 1 }).acquire(),
    call: (s, n, signal) => new Semaphore(s, n, { permits: 1 }).acquire({ signal }),
  },
  {
    kind: 'Election.campaign()',
    hold: (s, n) => new Election(s, n).campaign('a'),
    call: (s, n, signal) => new Election(s, n).campaign('b', { signal }),
  },
];

const trying: Case[] = [
  {
    kind: 'Mutex.tryLock()',
    hold: (s, n) => new Mutex(s, n).lock(),
    call: (s, n) => new Mutex(s, n).tryLock(),
  },
  {
    kind: 'RWMutex.tryRLock()',
    hold: (s, n) => new RWMutex(s, n).lock(),
    call: (s, n) => new RWMutex(s, n).tryRLock(),
  },
  {
    kind: 'Semaphore.tryAcquire()',
    hold: (s, n) => new Semaphore(s, n, { permits: 1 }).acquire(),
    call: (s, n) => new Semaphore(s, n, { permits: 1 }).tryAcquire(),
  },
];

describe(
  'a lost reply to the enqueue transaction leaves no key (issue 12, bug 4)',
  { timeout: 20_000 },
  () => {
    for (const c of waiting) {
      it(`${c.kind} that times out after a lost reply deletes the key it made`, async () => {
        const direct = etcd.client();
        const name = `${uniquePrefix('safety-lost')}${c.kind.replace(/\W+/g, '-')}`;
        const { proxy, client, session } = await throughProxy();
        const holder = await c.hold(await etcd.session(client, { ttl: 20 }), name);
        const lost = loseRepliesFromNextCall(proxy);
        const call = c.call(session, name, AbortSignal.timeout(LOST_MS + 2500));
        await expect(call).rejects.toMatchObject({ name: 'TimeoutError' });
        await lost;
        expect(await keysUnder(direct, `${name}/`)).toEqual([holder.key]);
      });
    }

    for (const c of trying) {
      it(`${c.kind} whose reply is lost deletes the key it may have made`, async () => {
        const direct = etcd.client();
        const name = `${uniquePrefix('safety-lost')}${c.kind.replace(/\W+/g, '-')}`;
        const { proxy, client, session } = await throughProxy();
        const holder = await c.hold(await etcd.session(client, { ttl: 20 }), name);
        const lost = loseRepliesFromNextCall(proxy);
        const call = c.call(session, name, new AbortController().signal);
        await expect(call).rejects.toThrow();
        await lost;
        expect(await keysUnder(direct, `${name}/`)).toEqual([holder.key]);
      });
    }
  },
);

describe('a release whose reply was lost is finished before the key is handed out again', () => {
  it(
    'Mutex.lock() after such a release queues a new key instead of returning the old hold',
    { timeout: 20_000 },
    async () => {
      const direct = etcd.client();
      const name = `${uniquePrefix('safety-lost')}release`;
      const { proxy, session } = await throughProxy();
      const mutex = new Mutex(session, name);
      const first = await mutex.lock();
      const lost = loseRepliesFromNextCall(proxy);
      const releasing = first.release();
      await expect(releasing).rejects.toThrow(); // the delete ran, its reply never came
      await lost;
      const second = await mutex.lock({ signal: AbortSignal.timeout(10_000) });
      expect(second).not.toBe(first);
      expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
      const kvs = (await direct.getAll().prefix(`${name}/`).exec()).kvs;
      expect(kvs.map((kv) => BigInt(kv.create_revision))).toEqual([second.fencingToken]);
      await second.release();
    },
  );

  it(
    'Election.campaign() after such a resign campaigns anew instead of returning the old term',
    { timeout: 20_000 },
    async () => {
      const direct = etcd.client();
      const name = `${uniquePrefix('safety-lost')}resign`;
      const { proxy, session } = await throughProxy();
      const election = new Election(session, name);
      const first = await election.campaign('a');
      const lost = loseRepliesFromNextCall(proxy);
      const resigning = election.resign();
      await expect(resigning).rejects.toThrow();
      await lost;
      const second = await election.campaign('a', { signal: AbortSignal.timeout(10_000) });
      expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
      const kvs = (await direct.getAll().prefix(`${name}/`).exec()).kvs;
      expect(kvs.map((kv) => BigInt(kv.create_revision))).toEqual([second.fencingToken]);
      await election.resign();
    },
  );
});

describe('a DoubleBarrier participant whose enqueue reply was lost counts once (issue 12, bug 5)', () => {
  it(
    'enter() passes with exactly count participants and every leave() returns',
    { timeout: 20_000 },
    async () => {
      const direct = etcd.client();
      const name = `${uniquePrefix('safety-lost')}double-barrier`;
      const { proxy, client, session } = await throughProxy();
      // The first participant, on the same client, already waits for the second.
      const b = new DoubleBarrier(await etcd.session(client, { ttl: 20 }), name, 2);
      const bIn = b.enter({ signal: AbortSignal.timeout(10_000) });
      await waitForKeys(direct, `${name}/waiters/`, 1);
      const a = new DoubleBarrier(session, name, 2);
      const lost = loseRepliesFromNextCall(proxy);
      const aIn = a.enter({ signal: AbortSignal.timeout(10_000) });
      await lost;
      await Promise.all([aIn, bIn]);
      expect(await keysUnder(direct, `${name}/waiters/`)).toHaveLength(2);
      await Promise.all([
        a.leave({ signal: AbortSignal.timeout(10_000) }),
        b.leave({ signal: AbortSignal.timeout(10_000) }),
      ]);
      expect(await keysUnder(direct, `${name}/`)).toEqual([]);
    },
  );
});

describe('a non-waiting call fails fast while etcd is down (issue 12, bug 6)', () => {
  it(
    'tryLock() on a name with no live watch rejects with EtcdUnavailableError within the deadline',
    { timeout: 30_000 },
    async () => {
      const client = etcd.client({ callTimeoutMs: 1000 });
      const session = await etcd.session(client, { ttl: 20 });
      const name = `${uniquePrefix('safety-down')}mutex`;
      const member = etcd.cluster().members[0]!;
      await member.kill('SIGKILL');
      try {
        const started = performance.now();
        const err = await new Mutex(session, name).tryLock().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(EtcdUnavailableError);
        expect(performance.now() - started).toBeLessThan(5000);
        const rw = await new RWMutex(session, name).tryLock().catch((e: unknown) => e);
        expect(rw).toBeInstanceOf(EtcdUnavailableError);
      } finally {
        await member.start();
      }
    },
  );
});
