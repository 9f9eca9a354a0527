import path from 'node:path';
import { parseEndpoints, startEtcd } from '../test/support/etcd-cluster.js';

/** The etcd the demo plays on. */
export interface DemoEtcd {
  endpoints: string[];
  /** One line for humans: which etcd, where. */
  description: string;
  /** True when the demo started it (and so stops it). */
  embedded: boolean;
  /** The embedded etcd's temp dir (removed by stop()). */
  dataDir?: string;
  stop(): Promise<void>;
}

async function serverVersion(endpoint: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${endpoint}/version`, { signal: AbortSignal.timeout(2000) });
    return ((await res.json()) as { etcdserver?: string }).etcdserver;
  } catch {
    return undefined;
  }
}

/**
 * `ETCD_ENDPOINTS` when set; otherwise a private single-node etcd started exactly as the tests
 * start theirs (test/support/etcd-cluster.ts: free loopback ports, a fresh temp dir, the etcd
 * binary installed with apt when missing and allowed), stopped and removed by stop() — and by the
 * harness' exit hook and watchdog if the demo dies first.
 */
export async function startDemoEtcd(): Promise<DemoEtcd> {
  const fromEnv = process.env.ETCD_ENDPOINTS?.trim();
  if (fromEnv) {
    const endpoints = parseEndpoints(fromEnv);
    const version = await serverVersion(endpoints[0] ?? '');
    return {
      endpoints,
      description: `${version ? `etcd ${version}` : 'etcd'} at ${endpoints.join(', ')} (ETCD_ENDPOINTS)`,
      embedded: false,
      stop: () => Promise.resolve(),
    };
  }
  console.log('  ETCD_ENDPOINTS is unset: starting an embedded etcd…');
  const cluster = await startEtcd({ members: 1 });
  const member = cluster.members[0];
  const dataDir = member ? path.dirname(member.dataDir) : undefined;
  const version = await serverVersion(cluster.endpoints[0] ?? '');
  return {
    endpoints: cluster.endpoints,
    description:
      `embedded etcd ${version ?? ''} at ${cluster.endpoints.join(', ')}, pid ${member?.pid ?? '?'}, data in ${dataDir ?? '?'}`.replace(
        '  ',
        ' ',
      ),
    embedded: true,
    ...(dataDir ? { dataDir } : {}),
    stop: () => cluster.stop(),
  };
}
