import { describe, expect, it } from 'vitest';
import {
  Election,
  HoldLostError,
  Mutex,
  RWMutex,
  Semaphore,
  type AcquireEvent,
  type ContenderFields,
} from '../../src/index.js';
import { blockEventLoop, useEtcd, waitForKeys } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { useDiagnostics } from './record.js';

const etcd = useEtcd();
const diagnostics = useDiagnostics();

const byName =
  (name: string) =>
  (m: object): boolean =>
    'name' in m && m.name === name;

function expectContender(m: ContenderFields, fields: Record<string, unknown>): void {
  expect(m).toMatchObject(fields);
  expect(typeof m.createRevision).toBe('bigint');
}

describe('diagnostics channels', () => {
  it('publishes acquire and release of a Mutex with name, key, lease, revisions and durations', async () => {
    diagnostics.start();
    const session = await etcd.session();
    const name = `${uniquePrefix('diag')}lock`;
    const mutex = new Mutex(session, name);
    const hold = await mutex.lock();
    await new Promise((r) => setTimeout(r, 30));
    await hold.release();

    const [acquire] = diagnostics.of('acquire', byName(name));
    expectContender(acquire!, {
      primitive: 'mutex',
      name,
      key: mutex.key,
      leaseId: session.leaseId,
      createRevision: hold.fencingToken,
      contended: false,
      created: true,
    });
    expect(acquire!.durationMs).toBeGreaterThan(0);
    expect(acquire!.revision).toBeGreaterThanOrEqual(hold.fencingToken);
    const [release] = diagnostics.of('release', byName(name));
    expectContender(release!, {
      primitive: 'mutex',
      name,
      key: mutex.key,
      createRevision: hold.fencingToken,
    });
    expect(release!.durationMs).toBeGreaterThanOrEqual(25);
    // An uncontended lock does not wait: no wait events.
    expect(diagnostics.sequence(byName(name))).toEqual(['acquire', 'release']);
  });

  it('publishes a contended wait from its start (keys ahead) to its end, then the acquisition', async () => {
    diagnostics.start();
    const client = etcd.client();
    const [a, b] = [await etcd.session(client), await etcd.session(client)];
    const name = `${uniquePrefix('diag')}lock`;
    const first = await new Mutex(a, name).lock();
    const waiting = new Mutex(b, name).lock();
    const start = await diagnostics.next('wait', (m) => m.name === name && m.phase === 'start');
    expect(start).toMatchObject({
      primitive: 'mutex',
      key: new Mutex(b, name).key,
      leaseId: b.leaseId,
      ahead: 1,
    });
    expect(start.phase === 'start' && start.revision >= start.createRevision).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    await first.release();
    const second = await waiting;

    const end = diagnostics.of('wait', (m) => m.name === name && m.phase === 'end');
    expect(end).toHaveLength(1);
    expect(end[0]).toMatchObject({ phase: 'end', outcome: 'acquired', leaseId: b.leaseId });
    expect(end[0]!.phase === 'end' && end[0]!.durationMs).toBeGreaterThanOrEqual(45);
    const acquired = diagnostics.of('acquire', (m) => m.name === name && m.leaseId === b.leaseId);
    expect(acquired).toHaveLength(1);
    expect(acquired[0]).toMatchObject({ contended: true, createRevision: second.fencingToken });
    // In order for each session; the two sessions' events may interleave either way (a's release
    // is published when its delete is answered, b hears of the delete by its watch).
    expect(diagnostics.sequence((m) => m.name === name && m.leaseId === a.leaseId)).toEqual([
      'acquire',
      'release',
    ]);
    expect(diagnostics.sequence((m) => m.name === name && m.leaseId === b.leaseId)).toEqual([
      'wait:start',
      'wait:end',
      'acquire',
    ]);
    await second.release();
  });

  it('ends an aborted wait with outcome aborted and the error name, and acquires nothing', async () => {
    diagnostics.start();
    const client = etcd.client();
    const [a, b] = [await etcd.session(client), await etcd.session(client)];
    const name = `${uniquePrefix('diag')}lock`;
    const first = await new Mutex(a, name).lock();
    const controller = new AbortController();
    const waiting = new Mutex(b, name).lock({ signal: controller.signal });
    await diagnostics.next('wait', (m) => m.name === name && m.phase === 'start');
    controller.abort(new DOMException('gave up', 'TimeoutError'));
    await expect(waiting).rejects.toThrow('gave up');
    const end = diagnostics.of('wait', (m) => m.name === name && m.phase === 'end');
    expect(end).toEqual([
      expect.objectContaining({ outcome: 'aborted', error: 'TimeoutError', leaseId: b.leaseId }),
    ]);
    expect(diagnostics.of('acquire', (m) => m.leaseId === b.leaseId)).toEqual([]);
    await first.release();
  });

  it('publishes tryLock, RWMutex, Election and Semaphore acquisitions under their primitive', async () => {
    diagnostics.start();
    const session = await etcd.session();
    const base = uniquePrefix('diag');

    const tried = await new Mutex(session, `${base}try`).tryLock();
    await tried.release();
    const read = await new RWMutex(session, `${base}rw`).rLock();
    await read.release();
    const election = new Election(session, `${base}election`);
    const leadership = await election.campaign('me');
    await election.resign();
    const permit = await new Semaphore(session, `${base}sem`, { permits: 2 }).acquire({ weight: 2 });
    await permit.release();

    const acquired = diagnostics.of('acquire', (m) => m.name.startsWith(base));
    expect(acquired.map((m) => [m.primitive, m.name.slice(base.length)])).toEqual([
      ['mutex', 'try'],
      ['rwmutex', 'rw'],
      ['election', 'election'],
      ['semaphore', 'sem'],
    ]);
    expect(acquired.map((m) => m.key)).toEqual([tried.key, read.key, leadership.key, permit.key]);
    const released = diagnostics.of('release', (m) => m.name.startsWith(base));
    expect(released.map((m) => m.key)).toEqual([tried.key, read.key, leadership.key, permit.key]);
    for (const m of [...acquired, ...released]) expect(m.leaseId).toBe(session.leaseId);
  });

  it('publishes the loss of a session whose lease is revoked elsewhere, then the loss of its hold', async () => {
    diagnostics.start();
    const session = await etcd.session();
    const name = `${uniquePrefix('diag')}lock`;
    const hold = await new Mutex(session, name).lock();
    await etcd.client().leaseClient.leaseRevoke({ ID: session.leaseId });
    await session.done;

    const lost = diagnostics.of('lost', (m) => m.leaseId === session.leaseId);
    expect(lost).toEqual([
      {
        primitive: 'session',
        leaseId: session.leaseId,
        ttl: 10,
        cause: 'revoked',
        error: 'SessionExpiredError',
      },
      expect.objectContaining({
        primitive: 'mutex',
        name,
        key: hold.key,
        createRevision: hold.fencingToken,
        cause: 'revoked',
        error: 'SessionExpiredError',
      }),
    ]);
    expect(diagnostics.of('release', byName(name))).toEqual([]);
  });

  it('publishes a session that could not renew within its TTL (a paused process) as session-expired', async () => {
    diagnostics.start();
    const session = await etcd.session(undefined, { ttl: 2 });
    const name = `${uniquePrefix('diag')}lock`;
    await new Mutex(session, name).lock();
    blockEventLoop(2500);
    await session.done;
    expect(diagnostics.of('lost', (m) => m.leaseId === session.leaseId)).toEqual([
      {
        primitive: 'session',
        leaseId: session.leaseId,
        ttl: 2,
        cause: 'session-expired',
        error: 'SessionExpiredError',
      },
      expect.objectContaining({ primitive: 'mutex', name, cause: 'session-expired' }),
    ]);
  });

  it('publishes a hold lost to a deletion of its key as key-deleted, once', async () => {
    diagnostics.start();
    const session = await etcd.session();
    const name = `${uniquePrefix('diag')}lock`;
    const hold = await new Mutex(session, name).lock();
    await etcd.client().delete().key(hold.key);
    await new Promise<void>((resolve) => hold.signal.addEventListener('abort', () => resolve()));
    expect(hold.signal.reason).toBeInstanceOf(HoldLostError);
    const lost = diagnostics.of('lost', byName(name));
    expect(lost).toEqual([
      expect.objectContaining({ cause: 'key-deleted', error: 'HoldLostError', key: hold.key }),
    ]);
    expect(lost[0]!.primitive !== 'session' && lost[0]!.durationMs).toBeGreaterThan(0);
  });

  it('publishes a hold ended by closing its session as session-closed; the session itself is not lost', async () => {
    diagnostics.start();
    const session = await etcd.session();
    const name = `${uniquePrefix('diag')}lock`;
    await new Mutex(session, name).lock();
    await session.close();
    expect(diagnostics.of('lost', (m) => m.leaseId === session.leaseId)).toEqual([
      expect.objectContaining({ primitive: 'mutex', cause: 'session-closed', error: 'SessionClosedError' }),
    ]);
  });

  it('publishes each acknowledged renewal with its round-trip time', async () => {
    diagnostics.start();
    const session = await etcd.session(undefined, { ttl: 3 });
    const renew = await diagnostics.next('renew', (m) => m.leaseId === session.leaseId);
    expect(renew).toMatchObject({ primitive: 'session', leaseId: session.leaseId, ttl: 3 });
    expect(typeof renew.revision).toBe('bigint');
    expect(renew.durationMs).toBeGreaterThan(0);
    expect(renew.durationMs).toBeLessThan(1000);
  });

  it('counts waits with keys ahead that still fit as uncontended (a semaphore with room)', async () => {
    diagnostics.start();
    const client = etcd.client();
    const [a, b] = [await etcd.session(client), await etcd.session(client)];
    const name = `${uniquePrefix('diag')}sem`;
    const p1 = await new Semaphore(a, name, { permits: 2 }).acquire();
    const p2 = await new Semaphore(b, name, { permits: 2 }).acquire();
    const acquired = diagnostics.of('acquire', byName(name));
    expect(acquired.map((m: AcquireEvent) => m.contended)).toEqual([false, false]);
    expect(diagnostics.of('wait', byName(name))).toEqual([]);
    await waitForKeys(client, `${name}/`, 2);
    await Promise.all([p1.release(), p2.release()]);
  });
});
