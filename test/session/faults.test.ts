import { createHook } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { HoldLostError, Session, SessionExpiredError, type SessionState } from '../../src/index.js';
import { invalidateToken } from '../../src/etcd/auth.js';
import { keyGone } from '../../src/queue/mirror-wait.js';
import { KeepAliveHub } from '../../src/session/keepalive-hub.js';
import { blockEventLoop, eventually, useEtcd, usePrivateEtcd } from '../support/clients.js';
import { sharedEtcdEndpoints } from '../support/etcd.js';
import { uniquePrefix } from '../support/prefix.js';
import { startProxy } from '../support/proxy.js';
import { startStallProxy } from './stall-proxy.js';

const etcd = useEtcd();

function recordStates(session: Session): { t: number; state: SessionState }[] {
  const states: { t: number; state: SessionState }[] = [];
  session.state$.subscribe((state) => states.push({ t: performance.now(), state }));
  return states;
}

async function leaseTtl(leaseId: string): Promise<number> {
  const res = await etcd.client().leaseClient.leaseTimeToLive({ ID: leaseId, keys: false });
  return Number(res.TTL);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Several sessions on one lease, on one client', () => {
  it('both stay alive well past the TTL, each hearing the renewals', async () => {
    const client = etcd.client();
    const first = await etcd.session(client, { ttl: 2 });
    const second = await etcd.session(client, { leaseId: first.leaseId });
    const states = [recordStates(first), recordStates(second)];
    const heard = [0, 0];
    first.keepAlive$.subscribe(() => heard[0]!++);
    second.keepAlive$.subscribe(() => heard[1]!++);
    await sleep(3500);
    expect(states.map((s) => s.map((e) => e.state))).toEqual([['alive'], ['alive']]);
    expect(await leaseTtl(first.leaseId)).toBeGreaterThan(0);
    expect(heard[0]).toBeGreaterThan(2);
    expect(heard[1]).toBeGreaterThan(2);
  });

  it('closing one revokes the lease and ends the others as lost at once', async () => {
    const client = etcd.client();
    const first = await etcd.session(client, { ttl: 30 });
    const second = await etcd.session(client, { leaseId: first.leaseId });
    await first.close();
    const closedAt = performance.now();
    await second.done;
    expect(performance.now() - closedAt).toBeLessThan(100);
    expect(second.signal.reason).toBeInstanceOf(SessionExpiredError);
    expect(first.currentState).toBe('closed');
    expect(await leaseTtl(first.leaseId)).toBe(-1);
  });

  it('orphaning one leaves the others renewing the lease', async () => {
    const client = etcd.client();
    const first = await etcd.session(client, { ttl: 2 });
    const second = await etcd.session(client, { leaseId: first.leaseId });
    const states = recordStates(second);
    first.orphan();
    await sleep(3500);
    expect(states.map((e) => e.state)).toEqual(['alive']);
    expect(await leaseTtl(first.leaseId)).toBeGreaterThan(0);
  });
});

describe('Session keep-alive faults', () => {
  it('a cancelled keep-alive stream erroring late does not touch sessions registered since', async () => {
    const client = etcd.client();
    const hub = KeepAliveHub.of(client);
    const session = await etcd.session(client, { ttl: 30 });
    const broken: Error[] = [];
    const listener = {
      onRenewed: () => undefined,
      onStreamBroken: (err: Error) => broken.push(err),
      onStreamReady: () => undefined,
      onRevoked: () => undefined,
    };
    await sleep(200); // the hub's stream is up
    // The last session leaves (its stream is cancelled) and another arrives in the same tick.
    session.orphan();
    const unregister = hub.register(session.leaseId, listener);
    etcd.defer(unregister);
    await sleep(500);
    expect(broken).toEqual([]);
  });

  it('is alive again, and stays so, once a connection that stalled for seconds delivers', async () => {
    const proxy = await startStallProxy(sharedEtcdEndpoints()[0]!);
    etcd.defer(() => proxy.close());
    const session = await etcd.session(etcd.client({ endpoints: [proxy.endpoint] }), { ttl: 6 });
    const states = recordStates(session);
    proxy.stall();
    await sleep(3000);
    proxy.flow();
    const flowedAt = performance.now();
    await sleep(5000);
    const after = states.filter((s) => s.t > flowedAt + 200).map((s) => s.state);
    expect(states.map((s) => s.state)).toContain('suspended');
    expect(after).toEqual([]);
    expect(session.currentState).toBe('alive');
  });

  it('renews every TTL/3, not every second', async () => {
    const session = await etcd.session(undefined, { ttl: 6 });
    let renewals = 0;
    session.keepAlive$.subscribe(() => renewals++);
    await sleep(6500);
    // At 0 (already counted or not), 2, 4 and 6 s.
    expect(renewals).toBeGreaterThanOrEqual(3);
    expect(renewals).toBeLessThanOrEqual(4);
    expect(session.currentState).toBe('alive');
  });

  it('is alive again within a second or so of a short outage, not after TTL/3', async () => {
    const proxy = await startProxy(sharedEtcdEndpoints()[0]!);
    etcd.defer(() => proxy.close());
    const session = await etcd.session(etcd.client({ endpoints: [proxy.endpoint] }), { ttl: 60 });
    await sleep(200);
    proxy.cut();
    await eventually(() => session.currentState === 'suspended', 2000, 'suspended');
    await sleep(300);
    proxy.resume();
    const resumedAt = performance.now();
    await eventually(() => session.currentState === 'alive', 5000, 'alive again');
    expect(performance.now() - resumedAt).toBeLessThan(2500);
  });

  it('is lost the moment its event loop runs again after a pause past the deadline', async () => {
    const session = await etcd.session(undefined, { ttl: 2 });
    blockEventLoop(2500);
    // No timer or I/O callback has run yet: the check itself reads the clock.
    expect(session.isActive).toBe(false);
    expect(session.currentState).toBe('lost');
    expect(() => session.throwIfEnded()).toThrow(SessionExpiredError);
  });

  it('holds a TTL longer than the timers can (200 days) without spinning or warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    let timeouts = 0;
    const hook = createHook({
      init(_id, type) {
        if (type === 'Timeout') timeouts++;
      },
    });
    try {
      const session = await etcd.session(undefined, { ttl: 200 * 24 * 3600 });
      hook.enable();
      const cpu = process.cpuUsage();
      await sleep(1000);
      const used = process.cpuUsage(cpu);
      hook.disable();
      expect(session.currentState).toBe('alive');
      expect(warnings.filter((w) => w === 'TimeoutOverflowWarning')).toEqual([]);
      expect(timeouts).toBeLessThan(20);
      expect((used.user + used.system) / 1000).toBeLessThan(300);
      expect(await leaseTtl(session.leaseId)).toBeGreaterThan(199 * 24 * 3600);
    } finally {
      hook.disable();
      process.off('warning', onWarning);
    }
  });
});

describe('Telling a lease that ended from a key deleted by someone', () => {
  it('reports SessionExpiredError, not HoldLostError, when the lease was revoked and etcd does not answer', async () => {
    const proxy = await startProxy(sharedEtcdEndpoints()[0]!);
    etcd.defer(() => proxy.close());
    const client = etcd.client({ endpoints: [proxy.endpoint] });
    const session = await etcd.session(client, { ttl: 3 });
    const key = `${uniquePrefix('session')}gone`;
    await client.put(key).value('v').lease(session.leaseId);
    proxy.freeze();
    await etcd.client().leaseClient.leaseRevoke({ ID: session.leaseId });
    const err = await keyGone(session, key, 'while waiting');
    expect(err).toBeInstanceOf(SessionExpiredError);
    expect(session.currentState).toBe('lost');
  });

  it('reports HoldLostError when someone deleted the key and the lease is alive', async () => {
    const client = etcd.client();
    const session = await etcd.session(client, { ttl: 30 });
    const key = `${uniquePrefix('session')}deleted`;
    await client.put(key).value('v').lease(session.leaseId);
    await etcd.client().delete().key(key);
    const started = performance.now();
    const err = await keyGone(session, key, 'while waiting');
    expect(err).toBeInstanceOf(HoldLostError);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(session.currentState).toBe('alive');
  });

  it('leaseStatus() says unknown, not alive, when etcd does not answer in time', async () => {
    const proxy = await startProxy(sharedEtcdEndpoints()[0]!);
    etcd.defer(() => proxy.close());
    const session = await etcd.session(etcd.client({ endpoints: [proxy.endpoint] }), { ttl: 30 });
    expect(await session.leaseStatus(2000)).toBe('alive');
    proxy.freeze();
    expect(await session.leaseStatus(300)).toBe('unknown');
    expect(session.isActive).toBe(true);
  });
});

describe('Session keep-alive with authentication', () => {
  const own = usePrivateEtcd({ members: 1, auth: true });

  it('does not flap after its keep-alive stream waited for a token to open', async () => {
    const proxy = await startStallProxy(own.cluster().endpoints[0]!);
    own.defer(() => proxy.close());
    const client = own.client({ endpoints: [proxy.endpoint], auth: own.cluster().auth!.root });
    const session = await own.session(client, { ttl: 10 });
    const states = recordStates(session);
    await sleep(200);
    // The token must be fetched again (as after an "invalid auth token"), over a network that
    // holds everything back for 3 s: the reopened keep-alive stream waits for it that long.
    proxy.stall();
    invalidateToken(client);
    proxy.drop();
    await eventually(() => session.currentState === 'suspended', 3000, 'suspended');
    await sleep(3000);
    proxy.flow();
    await eventually(() => session.currentState === 'alive', 5000, 'alive again');
    const aliveAt = performance.now();
    await sleep(6000);
    expect(states.filter((s) => s.t > aliveAt).map((s) => s.state)).toEqual([]);
    expect(session.currentState).toBe('alive');
  });
});
