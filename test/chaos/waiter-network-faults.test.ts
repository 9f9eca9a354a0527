/**
 * Chaos, short version (part of `npm test`): faults of a waiting client and of its network — a
 * waiter SIGSTOPped past its TTL, replies lost (etcd ran the requests, the client never heard),
 * connections reset mid-call — against a private 3-member etcd. `npm run test:chaos` runs these
 * for every primitive (Mutex, RWMutex, Semaphore, Election, DoubleBarrier) and longer.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { expectSafe } from './assertions.js';
import { CHAOS_ETCD_ARGS } from './cluster.js';
import { runScenario } from './scenario.js';
import { scenarios } from './scenarios.js';

/** A sample that fits the default run's time; the CLI has the whole catalogue. */
const SAMPLE = ['mutex/pause-waiter', 'mutex/lose-replies', 'semaphore/reset-connections'];
const SCENARIOS = scenarios({ size: 'short' }).filter((s) => SAMPLE.includes(s.name));

let cluster: EtcdCluster;
beforeAll(async () => {
  cluster = await startEtcd({ members: 3, extraArgs: CHAOS_ETCD_ARGS });
}, 60_000);
afterAll(async () => {
  await cluster.stop();
});

describe('chaos: stalled waiters, lost replies and reset connections on a 3-member etcd', () => {
  for (const spec of SCENARIOS) {
    it(
      `${spec.name}: no false success, no overlapping writers, no lost updates, no orphan keys, no leaks`,
      async () => {
        expectSafe(await runScenario(spec, { cluster }), spec);
      },
      spec.timeLimitMs + 60_000,
    );
  }
});
