import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { LockedError, Mutex } from '../../src/index.js';
import { useEtcd } from '../support/clients.js';
import { sharedEtcdEndpoints } from '../support/etcd.js';
import { uniquePrefix } from '../support/prefix.js';

const etcd = useEtcd();
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  }
});

/** `etcdctl lock name`, which prints its key once it holds the lock and holds it until killed. */
function etcdctlLock(name: string) {
  const child = spawn('etcdctl', ['--endpoints', sharedEtcdEndpoints().join(','), 'lock', name], {
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return {
    child,
    output: () => out,
    acquired: async (timeoutMs = 10_000) => {
      const start = Date.now();
      while (!out.includes(`${name}/`)) {
        if (child.exitCode !== null) throw new Error(`etcdctl exited: ${out}`);
        if (Date.now() - start > timeoutMs) throw new Error(`etcdctl did not acquire: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return out.trim().split('\n')[0]!.trim();
    },
    stop: async () => {
      child.kill('SIGINT'); // etcdctl closes its session, revoking its lease
      await new Promise((r) => child.once('exit', r));
    },
  };
}

describe('Mutex interop with etcdctl lock', () => {
  it('makes etcdctl wait for our holder, and we wait for etcdctl', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('interop')}lock`;
    const mutex = new Mutex(await etcd.session(client), name);
    const ours = await mutex.lock();
    const ctl = etcdctlLock(name);
    // etcdctl's key queues behind ours and it does not acquire.
    for (let i = 0; (await client.getAll().prefix(`${name}/`).keys()).length < 2; i++) {
      if (i > 200) throw new Error('etcdctl never enqueued');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(ctl.output()).toBe('');
    await ours.release();
    const ctlKey = await ctl.acquired();
    expect(ctlKey.startsWith(`${name}/`)).toBe(true);
    // Now etcdctl holds: we are refused, then we wait, then we win when it lets go.
    const err = await new Mutex(await etcd.session(client), name).tryLock().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockedError);
    expect((err as LockedError).holder.key).toBe(ctlKey);
    let held = false;
    const pending = mutex.lock().then((h) => {
      held = true;
      return h;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(held).toBe(false);
    await ctl.stop();
    const hold = await pending;
    expect(hold.fencingToken).toBeGreaterThan(BigInt(0));
    expect(await mutex.isOwner()).toBe(true);
    await hold.release();
  });
});
