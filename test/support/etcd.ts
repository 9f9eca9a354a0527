/**
 * Real-etcd test harness: everything of `./etcd-cluster.ts` (which does not need vitest, so the demo and
 * scripts can import it) plus {@link sharedEtcdEndpoints}, which reads vitest's provided context.
 *
 * - {@link startEtcd} starts a PRIVATE etcd (1 or 3 members) on free loopback ports in a fresh temp dir.
 *   Members can be killed, restarted, wiped, paused and resumed, for fault-injection tests.
 * - {@link sharedEtcdEndpoints} returns the endpoints of the etcd that `test/support/global-setup.ts`
 *   provides to all test files (either `ETCD_ENDPOINTS` or a private single node started once per run).
 * - {@link ensureEtcdBinary} finds (or, as root on Debian/Ubuntu, installs) the `etcd` binary; reusable by
 *   bench/demo/CI scripts.
 *
 * Child processes are only ever signalled by PID. Every etcd child is SIGKILLed synchronously from a
 * process 'exit' hook, and additionally watched by a tiny `sh` watchdog that SIGKILLs it when the Node
 * process that started it disappears without running 'exit' hooks (e.g. a vitest fork that is SIGTERMed).
 */
import { inject } from 'vitest';

export * from './etcd-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    etcdEndpoints: string[];
  }
}

/** Endpoints of the shared etcd provided by `test/support/global-setup.ts` (call inside vitest test files). */
export function sharedEtcdEndpoints(): string[] {
  const endpoints = inject('etcdEndpoints');
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    throw new Error('no shared etcd endpoints: is test/support/global-setup.ts the vitest globalSetup?');
  }
  return [...endpoints];
}
