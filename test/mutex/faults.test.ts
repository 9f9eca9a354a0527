import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mutex } from '../../src/index.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { useEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';

describe('Mutex when etcd fails', () => {
  let cluster: EtcdCluster;
  const etcd = useEtcd({ endpoints: () => cluster.endpoints });
  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('retries a release that failed while etcd was unreachable, so the lock is not stuck', async () => {
    const client = etcd.client({ callTimeoutMs: 1000 });
    const a = await etcd.session(client, { ttl: 30 });
    const b = await etcd.session(client, { ttl: 30 });
    const name = `${uniquePrefix('mutex-faults')}report`;
    const mutex = new Mutex(a, name);
    const hold = await mutex.lock();
    const member = cluster.members[0]!;
    await member.kill('SIGKILL');
    try {
      await expect(hold.release()).rejects.toThrow(/Cannot reach etcd/);
    } finally {
      await member.start();
    }
    // Still registered: unlock() finds the hold and tries again; so would hold.release().
    await mutex.unlock();
    expect(hold.isHeld).toBe(false);
    expect(await client.getAll().prefix(`${name}/`).keys()).toEqual([]);
    const other = await new Mutex(b, name).lock({ signal: AbortSignal.timeout(3000) });
    await other.release();
  });
});
