/**
 * The fault proxy itself, against a real etcd: each fault does to an unmodified etcd3 client what
 * it claims, and etcd's own state shows which requests ran.
 */
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/etcd/client.js';
import { useEtcd } from '../support/clients.js';
import { sharedEtcdEndpoints } from '../support/etcd.js';
import { uniquePrefix } from '../support/prefix.js';
import { startMemberProxies, startProxy } from '../support/proxy.js';

const CALL_TIMEOUT_MS = 1000;

describe('fault proxy', () => {
  const etcd = useEtcd();

  async function throughProxy() {
    const proxy = await startProxy(sharedEtcdEndpoints()[0]!);
    etcd.defer(() => proxy.close());
    const client = etcd.client({ endpoints: [proxy.endpoint], callTimeoutMs: CALL_TIMEOUT_MS });
    const direct = etcd.client();
    await client.get('warm-up').string(); // the connection is up before the fault
    return { proxy, client, direct };
  }

  const failure = (p: Promise<unknown>) =>
    p.then(
      () => 'resolved',
      (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err)),
    );

  it('blackholes replies: etcd executes the put, the client sees its deadline pass', async () => {
    const { proxy, client, direct } = await throughProxy();
    const key = `${uniquePrefix('proxy')}blackholed`;
    proxy.blackholeReplies();
    const started = Date.now();
    const outcome = await failure(client.put(key).value('v').exec());
    const took = Date.now() - started;
    expect(outcome).toMatch(/deadline|unavailable/i);
    expect(took).toBeGreaterThanOrEqual(CALL_TIMEOUT_MS - 50);
    expect(await direct.get(key).string()).toBe('v');
    expect(proxy.stats.bytesDropped).toBeGreaterThan(0);
    proxy.restore();
    expect(await client.get(key).string()).toBe('v');
  });

  it('drops the reply of the next request, and every reply after it, until restored', async () => {
    const { proxy, client, direct } = await throughProxy();
    const key = `${uniquePrefix('proxy')}next`;
    const struck = proxy.blackholeRepliesFromNextRequest();
    const outcome = await failure(client.put(key).value('v').exec());
    expect(await struck).toBeTypeOf('number');
    expect(outcome).toMatch(/deadline|unavailable/i);
    expect(await direct.get(key).string()).toBe('v');
    proxy.restore();
    expect(await client.get(key).string()).toBe('v');
  });

  it('disarms a pending next-request blackhole on restore', async () => {
    const { proxy, client } = await throughProxy();
    const struck = proxy.blackholeRepliesFromNextRequest();
    proxy.restore();
    expect(await struck).toBeUndefined();
    expect(await client.get('k').string()).toBeNull();
  });

  it('resets connections mid-call: the call fails at once, the next one reconnects', async () => {
    const { proxy, client, direct } = await throughProxy();
    const key = `${uniquePrefix('proxy')}reset`;
    // The request is still in the proxy when the connection is reset, so it never reaches etcd.
    proxy.delay({ toEtcd: 500 });
    const started = Date.now();
    const call = failure(client.put(key).value('v').exec());
    await new Promise((r) => setTimeout(r, 100));
    proxy.reset();
    const outcome = await call;
    expect(outcome).toMatch(/unavailable|reset|closed/i);
    expect(Date.now() - started).toBeLessThan(CALL_TIMEOUT_MS);
    expect(proxy.stats.resets).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 600)); // the delayed bytes would have landed by now
    expect(await direct.get(key).string()).toBeNull();
    proxy.restore();
    await client.put(key).value('after').exec();
    expect(await direct.get(key).string()).toBe('after');
  });

  it('delays each direction', async () => {
    const { proxy, client } = await throughProxy();
    proxy.delay({ toEtcd: 150, toClient: 150 });
    const started = Date.now();
    await client.get('k').string();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    proxy.delay(0);
    // Bytes already queued keep their order (and their latency): let them drain first.
    await new Promise((r) => setTimeout(r, 200));
    const again = Date.now();
    await client.get('k').string();
    expect(Date.now() - again).toBeLessThan(150);
  });

  it('cuts one member off from one client while the others serve it', async () => {
    const target = sharedEtcdEndpoints()[0]!;
    // Two proxies in front of the one shared member stand in for two members.
    const members = await startMemberProxies([target, target]);
    etcd.defer(() => members.close());
    const client = createClient({ endpoints: members.endpoints, callTimeoutMs: CALL_TIMEOUT_MS });
    etcd.defer(() => {
      client.close();
    });
    await client.get('warm-up').string();
    members.isolate(0);
    const key = `${uniquePrefix('proxy')}isolated`;
    await etcd.client().put(key).value('v').exec();
    // Reads are retried on another member; a write in flight on the cut one fails instead (never
    // re-sent: its outcome is unknown), so only reads are asked of the client here.
    for (let i = 0; i < 5; i++) expect(await client.get(key).string()).toBe('v');
    expect(members.proxies[1]!.stats.connections).toBeGreaterThan(0);
    members.restore();
  });
});
