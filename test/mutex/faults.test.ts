import { describe, expect, it } from 'vitest';
import { Mutex } from '../../src/index.js';
import { usePrivateEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';

describe('Mutex when etcd fails', () => {
  const etcd = usePrivateEtcd();

  it('retries a release that failed while etcd was unreachable, so the lock is not stuck', async () => {
    const client = etcd.client({ callTimeoutMs: 1000 });
    const a = await etcd.session(client, { ttl: 30 });
    const b = await etcd.session(client, { ttl: 30 });
    const name = `${uniquePrefix('mutex-faults')}report`;
    const mutex = new Mutex(a, name);
    const hold = await mutex.lock();
    const member = etcd.cluster().members[0]!;
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
