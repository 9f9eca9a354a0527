import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEBIAN_GOPATH, ensureGoToolchain } from '../../bench/go/build.js';
import { PriorityQueue, Queue } from '../../src/index.js';
import { keysUnder, useEtcd } from '../support/clients.js';
import { sharedEtcdEndpoints } from '../support/etcd.js';
import { uniquePrefix } from '../support/prefix.js';
import { ROOT, spawnProcess, useSpawn } from '../support/spawn.js';

/**
 * Go's own recipes (`recipe.NewQueue`, `recipe.NewPriorityQueue` from Debian's etcd 3.4
 * sources) and ours on the same queues: each side takes what the other enqueued, in order, and
 * a Go consumer never sees our claims but does get an item that comes back from one.
 */
const GOPATH_SYSTEM = DEBIAN_GOPATH;
const etcd = useEtcd();
useSpawn();
let dir = '';
let binary = '';

async function go(...args: string[]): Promise<string[]> {
  const run = spawnProcess(binary, args, { ETCD_ENDPOINTS: sharedEtcdEndpoints().join(',') });
  const { code, stdout, stderr } = await run.exit(15_000);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  return stdout.split('\n').filter((l) => l !== '');
}

describe("interop with Go's recipes (etcd 3.4)", () => {
  beforeAll(async () => {
    // Interop tests never skip: Go and Debian's etcd sources are installed as etcd is (as root).
    const toolchain = await ensureGoToolchain(() => undefined);
    if ('unavailable' in toolchain) throw new Error(toolchain.unavailable);
    dir = mkdtempSync(join(tmpdir(), 'qinterop-'));
    mkdirSync(join(dir, 'src/qinterop'), { recursive: true });
    copyFileSync(join(ROOT, 'test/queue-recipes/go/main.go'), join(dir, 'src/qinterop/main.go'));
    binary = join(dir, 'qinterop');
    execFileSync(toolchain.go, ['build', '-o', binary, 'qinterop'], {
      env: { ...process.env, GOPATH: `${GOPATH_SYSTEM}:${dir}`, GO111MODULE: 'off', GOFLAGS: '' },
      stdio: 'ignore',
    });
  }, 180_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Queue: we take what Go enqueued, and Go dequeues what we enqueued, FIFO', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('goq')}jobs`;
    await go('queue', name, 'enqueue', 'a', 'b', 'c');
    const q = new Queue(client, name);
    const ours = [];
    for (let i = 0; i < 3; i++) ours.push((await q.take()).value);
    expect(ours).toEqual(['a', 'b', 'c']);
    for (const v of ['x', 'y', 'z']) await q.enqueue(v);
    expect(await go('queue', name, 'dequeue', '3')).toEqual(['x', 'y', 'z']);
    expect(await keysUnder(client, name)).toEqual([]);
  });

  it('Queue: a claimed item is invisible to a Go consumer, which gets it once it comes back', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('goq')}claims`;
    const q = new Queue(client, name);
    const worker = await etcd.session(client);
    const live = await etcd.session(etcd.client());
    // A live worker of ours (it has waited on the queue once), so someone puts items back.
    const idle = new AbortController();
    const waited = new Queue(live.client, name).take({ session: live, signal: idle.signal });
    idle.abort(new Error('idle'));
    await expect(waited).rejects.toThrow('idle');

    await q.enqueue('claimed');
    await q.enqueue('free');
    const claim = await q.take({ session: worker });
    expect(claim.value).toBe('claimed');
    expect(await go('queue', name, 'dequeue', '1')).toEqual(['free']);
    // Go now waits for the next item; the worker dies and its item comes back.
    const waiting = spawnProcess(binary, ['queue', name, 'dequeue', '1'], {
      ETCD_ENDPOINTS: sharedEtcdEndpoints().join(','),
    });
    await new Promise((r) => setTimeout(r, 300));
    await worker.close();
    const { stdout, code } = await waiting.exit(10_000);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe('claimed');
    expect(await keysUnder(client, name)).toEqual([]);
    expect(await keysUnder(client, `__etcd-concurrency/claims/${encodeURIComponent(name)}/`)).toEqual([]);
  });

  it('PriorityQueue: both sides take lowest priority first from what the other enqueued', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('gopq')}jobs`;
    await go('pq', name, 'enqueue', '2:c', '0:a', '1:b', '0:a2');
    const pq = new PriorityQueue(client, name);
    const ours = [];
    for (let i = 0; i < 4; i++) ours.push((await pq.take()).value);
    expect(ours).toEqual(['a', 'a2', 'b', 'c']);
    await pq.enqueue('x', 1);
    await pq.enqueue('y', 0);
    await pq.enqueue('y2', 0);
    expect(await go('pq', name, 'dequeue', '3')).toEqual(['y', 'y2', 'x']);
    // Go's own producer after ours, on the same priority: no sequence number is reused.
    await go('pq', name, 'enqueue', '0:go');
    await pq.enqueue('ts', 0);
    expect(await go('pq', name, 'dequeue', '2')).toEqual(['go', 'ts']);
    expect(await keysUnder(client, `${name}/`)).toEqual([]);
    await client.delete().prefix(`__${name}/`);
  });
});
