import { parseEndpoints, startEtcd } from '../test/support/etcd-cluster.js';

/** The etcd a run measures against. */
export interface BenchEtcd {
  endpoints: string[];
  /** e.g. `private single-node etcd 3.4.23 started by the bench`. */
  description: string;
  stop(): Promise<void>;
}

async function serverVersion(endpoint: string): Promise<string> {
  try {
    const res = await fetch(`${endpoint}/version`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { etcdserver?: string };
    return body.etcdserver ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * `ETCD_ENDPOINTS` when set, else a private single-node etcd started exactly as the tests start
 * theirs (test/support/etcd.ts: free loopback ports, a temp dir, installs etcd-server if missing).
 */
export async function benchEtcd(): Promise<BenchEtcd> {
  const fromEnv = process.env.ETCD_ENDPOINTS?.trim();
  if (fromEnv) {
    const endpoints = parseEndpoints(fromEnv);
    const version = await serverVersion(endpoints[0] ?? '');
    return {
      endpoints,
      description: `etcd ${version} at ETCD_ENDPOINTS (${endpoints.length} endpoint(s))`,
      stop: () => Promise.resolve(),
    };
  }
  const cluster = await startEtcd({ members: 1 });
  const version = await serverVersion(cluster.endpoints[0] ?? '');
  return {
    endpoints: cluster.endpoints,
    description: `private single-node etcd ${version} on loopback, started by the bench like the tests' (heartbeat 50 ms, election timeout 500 ms)`,
    stop: () => cluster.stop(),
  };
}
