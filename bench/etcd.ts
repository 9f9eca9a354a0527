import { etcdFromEnvOrStart } from '../test/support/etcd-cluster.js';

/** The etcd a run measures against. */
export interface BenchEtcd {
  endpoints: string[];
  /** e.g. `private single-node etcd 3.4.23 started by the bench`. */
  description: string;
  stop(): Promise<void>;
}

/**
 * `ETCD_ENDPOINTS` when set, else a private single-node etcd started exactly as the tests start
 * theirs (test/support/etcd.ts: free loopback ports, a temp dir, installs etcd-server if missing).
 */
export async function benchEtcd(): Promise<BenchEtcd> {
  const etcd = await etcdFromEnvOrStart();
  const version = etcd.version ?? 'unknown';
  return {
    endpoints: etcd.endpoints,
    description: etcd.cluster
      ? `private single-node etcd ${version} on loopback, started by the bench like the tests' (heartbeat 50 ms, election timeout 500 ms)`
      : `etcd ${version} at ETCD_ENDPOINTS (${etcd.endpoints.length} endpoint(s))`,
    stop: () => etcd.stop(),
  };
}
