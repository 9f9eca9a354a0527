/**
 * Real-etcd processes for tests, the demo, the benchmark and CI scripts, without vitest: the
 * harness lives in `src/testing/` (shipped as `etcd-concurrency/testing`); this file re-exports
 * it, with the helpers the suite uses beyond the public entry. `./etcd.ts` adds the vitest-only
 * `sharedEtcdEndpoints`.
 */
export * from '../../src/testing.js';
export { parseEndpoints, serverVersion, waitForHealthy } from '../../src/testing/health.js';
export { etcdFromEnvOrStart, type ScriptEtcd } from '../../src/testing/start.js';
