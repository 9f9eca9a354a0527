import net, { type AddressInfo } from 'node:net';
import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { Election } from '../../src/index.js';
import { eventually, usePrivateEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { expectWellOrdered, record, valuesOf } from './record.js';

/** A TCP proxy in front of etcd whose connections can be cut, to break one client's streams. */
async function startProxy(target: string) {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  let open = true;
  const server = net.createServer((downstream) => {
    if (!open) {
      downstream.destroy();
      return;
    }
    const upstream = net.connect(Number(port), hostname);
    const close = () => {
      downstream.destroy();
      upstream.destroy();
      sockets.delete(downstream);
      sockets.delete(upstream);
    };
    for (const socket of [downstream, upstream]) {
      sockets.add(socket);
      socket.on('error', close);
      socket.on('close', close);
    }
    downstream.pipe(upstream);
    upstream.pipe(downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = () => {
    open = false;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut,
    restore: () => {
      open = true;
    },
    close: () => {
      cut();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Retries `fn` until it succeeds: calls made while etcd comes back fail fast, by design. */
async function retrying<T>(fn: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() - start > timeoutMs) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function currentRevision(client: Etcd3): Promise<string> {
  return (await client.kv.range({ key: Buffer.from('\0') })).header.revision;
}

describe('Election on a private etcd that fails', () => {
  const etcd = usePrivateEtcd({ members: 1 });

  it('keeps observing across an etcd restart and reports the right leader afterwards', async () => {
    const member = etcd.cluster().members[0]!;
    const client = etcd.client();
    const name = `${uniquePrefix('election')}restart`;
    // TTLs longer than the restart, so that both sessions survive it.
    const a = new Election(await etcd.session(client, { ttl: 30 }), name);
    const b = new Election(await etcd.session(client, { ttl: 30 }), name);
    const observed = record(Election.observe(etcd.client(), name));
    await observed.until((v) => v.length === 1, 'the initial state');
    await a.campaign('a1');
    const bLeads = b.campaign('b1');
    await observed.until((v) => v.at(-1)?.value === 'a1', 'a1');

    await member.kill('SIGKILL');
    await member.start();

    await retrying(() => a.proclaim('a2'));
    await observed.until((v) => v.at(-1)?.value === 'a2', 'a2 after the restart', 15_000);
    await retrying(() => a.resign());
    const hold = await bLeads;
    expect(hold.key).toBe(b.key);
    expect(b.isLeader).toBe(true);
    await observed.until((v) => v.at(-1)?.value === 'b1', 'the next leader', 15_000);
    expect((await b.leader()).key).toBe(b.key);
    await b.resign();
    await observed.until((v) => v.at(-1) === null, 'no leader');
    expect(valuesOf(observed.values)).toEqual([null, 'a1', 'a2', 'b1', null]);
    expectWellOrdered(observed.values);
    expect(observed.error).toBeUndefined();
    observed.stop();
  });

  it('reports every state missed while disconnected, and re-reads after compaction', async () => {
    const proxy = await startProxy(etcd.cluster().endpoints[0]!);
    etcd.defer(() => proxy.close());
    const client = etcd.client();
    // Only the observer goes through the proxy; it reconnects quickly once the proxy is back.
    const observerClient = etcd.client({
      endpoints: proxy.endpoint,
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 300 },
    });
    const name = `${uniquePrefix('election')}gap`;
    const a = new Election(await etcd.session(client), name);
    const b = new Election(await etcd.session(client), name);
    const observed = record(Election.observe(observerClient, name));
    await observed.until((v) => v.length === 1, 'the initial state');
    await a.campaign('a1');
    await observed.until((v) => v.at(-1)?.value === 'a1', 'a1');

    // Disconnected: the watch resumes from where it stopped, and etcd sends the missed
    // proclamations together; each is reported.
    proxy.cut();
    for (const v of ['a2', 'a3', 'a4']) await a.proclaim(v);
    proxy.restore();
    await observed.until((v) => v.at(-1)?.value === 'a4', 'a4', 15_000);
    expect(valuesOf(observed.values)).toEqual([null, 'a1', 'a2', 'a3', 'a4']);

    // Disconnected while etcd compacts what the watch missed: it cannot resume, the prefix is
    // read again and observation goes on from that read.
    proxy.cut();
    await a.proclaim('a5');
    const bLeads = b.campaign('b1');
    await eventually(async () => (await client.getAll().prefix(`${name}/`).keys()).length === 2);
    await a.resign();
    await bLeads;
    await b.proclaim('b2');
    await client.kv.compact({ revision: await currentRevision(client), physical: true });
    proxy.restore();
    await observed.until((v) => v.at(-1)?.value === 'b2', 'b2 after the re-read', 15_000);
    expect(valuesOf(observed.values)).toEqual([null, 'a1', 'a2', 'a3', 'a4', 'b2']);
    expect(observed.values.at(-1)!.key).toBe(b.key);
    expectWellOrdered(observed.values);

    // And it keeps following live changes.
    await b.proclaim('b3');
    await b.resign();
    await observed.until((v) => v.at(-1) === null, 'no leader');
    expect(valuesOf(observed.values).slice(-2)).toEqual(['b3', null]);
    expect(observed.error).toBeUndefined();
    observed.stop();
  });
});
