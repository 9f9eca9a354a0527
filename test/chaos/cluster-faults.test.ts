/**
 * Chaos, short version (part of `npm test`): etcd member faults under a contended Mutex — the
 * leader killed and restarted, a follower killed and restarted, and a member restarted while
 * clients pinned to it wait for the lock. `npm run test:chaos` runs them longer.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { expectSafe } from './assertions.js';
import { CHAOS_ETCD_ARGS } from './cluster.js';
import { runScenario } from './scenario.js';
import { scenarios } from './scenarios.js';

const MEMBER_SCENARIOS = scenarios({ size: 'short' }).filter(
  (s) =>
    s.fault?.kind === 'kill-leader' ||
    s.fault?.kind === 'kill-follower' ||
    s.fault?.kind === 'restart-member-mid-wait',
);

let cluster: EtcdCluster;
beforeAll(async () => {
  cluster = await startEtcd({ members: 3, extraArgs: CHAOS_ETCD_ARGS });
}, 60_000);
afterAll(async () => {
  await cluster.stop();
});

describe('chaos: etcd member faults on a 3-member etcd', () => {
  for (const spec of MEMBER_SCENARIOS) {
    it(
      `${spec.name}: no overlapping writers, no lost updates, waiters survive, no leaks`,
      async () => {
        expectSafe(await runScenario(spec, { cluster }), spec);
      },
      spec.timeLimitMs + 60_000,
    );
  }
});
