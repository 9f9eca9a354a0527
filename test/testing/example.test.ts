/**
 * The README's example for users' own tests, verbatim but for the import path: one etcd for the
 * file, a fresh session per test.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Mutex, Session } from '../../src/index.js'; // in your project: 'etcd-concurrency'
import { startEtcd, type EtcdCluster } from '../../src/testing.js'; // 'etcd-concurrency/testing'

let etcd: EtcdCluster;
beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd.stop(); // also closes every client from etcd.client()
});

it('lets only one worker run the job at a time', async () => {
  const client = etcd.client();
  await using a = await Session.create(client, { ttl: 5 });
  await using b = await Session.create(client, { ttl: 5 });
  const first = await new Mutex(a, 'jobs/nightly').lock();
  await expect(new Mutex(b, 'jobs/nightly').tryLock()).rejects.toThrow(/is held by lease/);
  await first.release();
  await using second = await new Mutex(b, 'jobs/nightly').tryLock();
  expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
});
