/**
 * Chaos, short version (part of `npm test`): holder faults — SIGKILL and SIGSTOP of the process
 * holding a Mutex, an Election's leadership or Semaphore permits — plus a fault-free baseline and
 * the negative control, against a private 3-member etcd. `npm run test:chaos` runs them longer.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { expectFlagged, expectSafe } from './assertions.js';
import { CHAOS_ETCD_ARGS } from './cluster.js';
import { runScenario } from './scenario.js';
import { scenarios } from './scenarios.js';

const HOLDER_SCENARIOS = scenarios({ size: 'short' }).filter(
  (s) => s.fault === undefined || s.fault.kind === 'kill-holder' || s.fault.kind === 'pause-holder',
);

let cluster: EtcdCluster;
beforeAll(async () => {
  cluster = await startEtcd({ members: 3, extraArgs: CHAOS_ETCD_ARGS });
}, 60_000);
afterAll(async () => {
  await cluster.stop();
});

describe('chaos: holder faults on a 3-member etcd', () => {
  for (const spec of HOLDER_SCENARIOS) {
    const title = spec.unguarded
      ? `${spec.name}, unguarded writes (negative control): the checker flags lost updates`
      : `${spec.name}: no overlapping writers, no lost updates, no starvation, no leaks`;
    it(
      title,
      async () => {
        const report = await runScenario(spec, { cluster });
        if (spec.unguarded) expectFlagged(report);
        else expectSafe(report, spec);
      },
      spec.timeLimitMs + 60_000,
    );
  }
});
