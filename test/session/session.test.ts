import { describe, expect, it } from 'vitest';
import { firstValueFrom, toArray } from 'rxjs';
import {
  EtcdUnavailableError,
  InvalidArgumentError,
  Session,
  SessionClosedError,
  SessionExpiredError,
  createClient,
  type SessionState,
} from '../../src/index.js';
import { blockEventLoop, eventually, useEtcd, usePrivateEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';

const etcd = useEtcd();

async function leaseTtl(leaseId: string): Promise<number> {
  const res = await etcd.client().leaseClient.leaseTimeToLive({ ID: leaseId, keys: false });
  return Number(res.TTL);
}

function recordStates(session: Session): SessionState[] {
  const states: SessionState[] = [];
  session.state$.subscribe((s) => states.push(s));
  return states;
}

describe('Session on a shared etcd', () => {
  it('grants a lease with the TTL and keeps it alive in the background', async () => {
    const session = await etcd.session(undefined, { ttl: 3 });
    expect(session.ttl).toBe(3);
    expect(session.leaseId).toMatch(/^\d+$/);
    expect(await firstValueFrom(session.state$)).toBe('alive');
    const renewal = await firstValueFrom(session.keepAlive$);
    expect(renewal.ttl).toBe(3);
    expect(typeof renewal.revision).toBe('bigint');
    // Well past the TTL, the lease is still there because renewals keep coming.
    await new Promise((r) => setTimeout(r, 4000));
    expect(await leaseTtl(session.leaseId)).toBeGreaterThan(0);
    expect(session.currentState).toBe('alive');
  });

  it('close() revokes the lease so its keys vanish, ends the session once, and is idempotent', async () => {
    const client = etcd.client();
    const session = await etcd.session(client, { ttl: 30 });
    const key = `${uniquePrefix('session')}k`;
    await client.put(key).value('v').lease(session.leaseId);
    const states = recordStates(session);
    await Promise.all([session.close(), session.close()]);
    await session.close();
    expect(await client.get(key).string()).toBeNull();
    expect(await leaseTtl(session.leaseId)).toBe(-1);
    expect(states).toEqual(['alive', 'closed']);
    expect(session.signal.aborted).toBe(true);
    expect(session.signal.reason).toBeInstanceOf(SessionClosedError);
    await expect(session.done).resolves.toBeUndefined();
    // Late subscribers get the final state, then completion.
    expect(await firstValueFrom(session.state$.pipe(toArray()))).toEqual(['closed']);
    expect(await firstValueFrom(session.keepAlive$.pipe(toArray()))).toEqual([]);
  });

  it('await using closes the session at scope end', async () => {
    const client = etcd.client();
    let leaseId = '';
    {
      await using session = await Session.create(client, { ttl: 30 });
      leaseId = session.leaseId;
      expect(await leaseTtl(leaseId)).toBeGreaterThan(0);
    }
    expect(await leaseTtl(leaseId)).toBe(-1);
  });

  it('orphan() ends the session locally and leaves the lease to expire after its TTL', async () => {
    const client = etcd.client();
    const session = await Session.create(client, { ttl: 2 });
    const key = `${uniquePrefix('session')}orphan`;
    await client.put(key).value('v').lease(session.leaseId);
    session.orphan();
    expect(session.currentState).toBe('closed');
    expect(session.signal.reason).toBeInstanceOf(SessionClosedError);
    expect(await leaseTtl(session.leaseId)).toBeGreaterThan(0);
    expect(await client.get(key).string()).toBe('v');
    await eventually(
      async () => (await client.get(key).string()) === null,
      6000,
      'the orphaned lease to expire',
    );
  });

  it('attaches to an existing lease and keeps it alive', async () => {
    const client = etcd.client();
    const first = await Session.create(client, { ttl: 2 });
    first.orphan();
    const second = await etcd.session(client, { leaseId: first.leaseId });
    expect(second.leaseId).toBe(first.leaseId);
    expect(second.ttl).toBe(2);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await leaseTtl(first.leaseId)).toBeGreaterThan(0);
    expect(second.currentState).toBe('alive');
  });

  it('is lost exactly once, at its next renewal (within TTL/3), when another client revokes its lease', async () => {
    const session = await etcd.session(undefined, { ttl: 6 });
    const states = recordStates(session);
    const other = etcd.client();
    const revokedAt = Date.now();
    await other.leaseClient.leaseRevoke({ ID: session.leaseId });
    await session.done;
    expect(Date.now() - revokedAt).toBeLessThan(2000 + 500);
    expect(states).toEqual(['alive', 'lost']);
    expect(session.signal.reason).toBeInstanceOf(SessionExpiredError);
    expect((session.signal.reason as SessionExpiredError).leaseId).toBe(session.leaseId);
  });

  it('is lost when its keep-alive is starved by a blocked event loop past the TTL', async () => {
    const session = await etcd.session(undefined, { ttl: 2 });
    const states = recordStates(session);
    blockEventLoop(2500);
    await session.done;
    expect(states.at(-1)).toBe('lost');
    expect(states.filter((s) => s === 'lost')).toHaveLength(1);
    expect(session.signal.reason).toBeInstanceOf(SessionExpiredError);
    // Having declared it lost, the session revokes the lease so nobody waits behind its keys.
    await eventually(async () => (await leaseTtl(session.leaseId)) === -1, 3000, 'the lease to be revoked');
  });

  it('refuses bad TTLs with InvalidArgumentError before talking to etcd', async () => {
    // An unreachable client proves no RPC happens: it would fail with EtcdUnavailableError.
    const nowhere = etcd.client({ endpoints: ['127.0.0.1:9'] });
    for (const ttl of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 1e12]) {
      await expect(Session.create(nowhere, { ttl })).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    for (const leaseId of ['', 'abc', '-5', '0', '1.5']) {
      await expect(Session.create(nowhere, { leaseId })).rejects.toBeInstanceOf(InvalidArgumentError);
    }
  });

  it('refuses an unknown lease id', async () => {
    const err = await Session.create(etcd.client(), { leaseId: '1234567890123' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(/does not exist/);
  });

  it('refuses a namespaced client', async () => {
    const ns = etcd.client().namespace('app/');
    await expect(Session.create(ns as never)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('fails fast with EtcdUnavailableError naming the endpoint when etcd is unreachable', async () => {
    const started = Date.now();
    const err = await Session.create(etcd.client({ endpoints: ['127.0.0.1:9'] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EtcdUnavailableError);
    expect((err as Error).message).toContain('127.0.0.1:9');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('rejects with the signal reason when creation is aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(Session.create(etcd.client(), { signal: controller.signal })).rejects.toThrow('stop');
  });

  it('createClient refuses empty endpoints and bad timeouts', () => {
    expect(() => createClient({ endpoints: [] })).toThrow(InvalidArgumentError);
    expect(() => createClient({ endpoints: ' , ' })).toThrow(InvalidArgumentError);
    expect(() => createClient({ callTimeoutMs: 0 })).toThrow(InvalidArgumentError);
  });
});

describe('Session on a private etcd that fails', () => {
  const own = usePrivateEtcd({ members: 1 });

  it('stays alive, and keeps its keys, across an etcd restart within the TTL', async () => {
    const member = own.cluster().members[0]!;
    const client = own.client();
    const session = await own.session(client, { ttl: 8 });
    const key = `${uniquePrefix('session')}restart`;
    await client.put(key).value('v').lease(session.leaseId);
    const states = recordStates(session);
    await member.kill('SIGKILL');
    await eventually(() => session.currentState === 'suspended', 5000, 'suspended');
    await member.start();
    await eventually(() => session.currentState === 'alive', 8000, 'alive again');
    expect(states).not.toContain('lost');
    expect(session.isActive).toBe(true);
    expect(await client.get(key).string()).toBe('v');
  });

  it('is lost when etcd stays unreachable past the deadline', async () => {
    const member = own.cluster().members[0]!;
    const session = await own.session(undefined, { ttl: 2 });
    const states = recordStates(session);
    await member.kill('SIGKILL');
    const killedAt = Date.now();
    try {
      await session.done;
      expect(Date.now() - killedAt).toBeLessThan(3500);
      expect(states).toEqual(['alive', 'suspended', 'lost']);
      expect(session.signal.reason).toBeInstanceOf(SessionExpiredError);
    } finally {
      await member.start();
    }
  });

  it('is lost when etcd comes back with its data wiped', async () => {
    const member = own.cluster().members[0]!;
    const session = await own.session(undefined, { ttl: 10 });
    await member.wipe();
    await member.start();
    await session.done;
    expect(session.currentState).toBe('lost');
    expect(session.signal.reason).toBeInstanceOf(SessionExpiredError);
  });
});
