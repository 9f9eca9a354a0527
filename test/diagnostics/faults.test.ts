import { describe, expect, it } from 'vitest';
import { Mutex } from '../../src/index.js';
import { usePrivateEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { startProxy } from '../support/proxy.js';
import { useDiagnostics } from './record.js';

const etcd = usePrivateEtcd();
const diagnostics = useDiagnostics();

describe('diagnostics of connection trouble', () => {
  it('publishes retries of a waiting lock() while its connection is cut, and the streams reconnecting', async () => {
    const proxy = await startProxy(etcd.cluster().endpoints[0]!);
    etcd.defer(() => proxy.close());
    const client = etcd.client({ endpoints: [proxy.endpoint] });
    const session = await etcd.session(client);
    const mutex = new Mutex(session, `${uniquePrefix('diag')}lock`);
    // A hold kept for a while watches its own key: the client has a watch stream to reconnect.
    const held = await new Mutex(await etcd.session(client), `${uniquePrefix('diag')}held`).lock();
    await new Promise((r) => setTimeout(r, 400));
    diagnostics.start();
    proxy.cut();
    const locking = mutex.lock();
    await diagnostics.next('retry', (m) => m.operation === 'enqueue');
    await new Promise((r) => setTimeout(r, 300));
    proxy.resume();
    const hold = await locking;

    const retries = diagnostics.of('retry', (m) => m.operation === 'enqueue');
    expect(retries.map((m) => m.attempt)).toEqual(retries.map((_, i) => i + 1));
    for (const m of retries) expect(m.error).toMatch(/^\w+Error$/);
    const watch = await diagnostics.next('reconnect', (m) => m.stream === 'watch');
    expect(watch.attempts).toBeGreaterThanOrEqual(1);
    expect(watch.durationMs).toBeGreaterThanOrEqual(250);
    expect(watch.error).toMatch(/Error$/);
    const keepAlive = await diagnostics.next('reconnect', (m) => m.stream === 'keep-alive');
    expect(keepAlive.durationMs).toBeGreaterThanOrEqual(250);
    // Each stream's recovery is reported once, not once per message after it.
    await new Promise((r) => setTimeout(r, 1500));
    expect(diagnostics.of('reconnect', (m) => m.stream === 'watch')).toHaveLength(1);
    expect(diagnostics.of('reconnect', (m) => m.stream === 'keep-alive')).toHaveLength(1);
    await hold.release();
    await held.release();
  });

  it('publishes the watch and keep-alive streams reconnecting after an etcd restart', async () => {
    const client = etcd.client();
    const [a, b] = [await etcd.session(client), await etcd.session(client)];
    const name = `${uniquePrefix('diag')}lock`;
    const first = await new Mutex(a, name).lock();
    const waiting = new Mutex(b, name).lock();
    diagnostics.start();
    const member = etcd.cluster().members[0]!;
    await member.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    await member.start();

    const watch = await diagnostics.next('reconnect', (m) => m.stream === 'watch');
    expect(watch.attempts).toBeGreaterThanOrEqual(1);
    expect(watch.durationMs).toBeGreaterThanOrEqual(450);
    const keepAlive = await diagnostics.next('reconnect', (m) => m.stream === 'keep-alive');
    expect(keepAlive.attempts).toBeGreaterThanOrEqual(1);
    // The wait survived the restart: releasing hands the lock over.
    await first.release();
    await (await waiting).release();
    expect(diagnostics.of('acquire', (m) => m.name === name)).toEqual([
      expect.objectContaining({ leaseId: b.leaseId, contended: true }),
    ]);
  });
});
