import path from 'node:path';
import { etcdFromEnvOrStart } from '../test/support/etcd-cluster.js';

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

/**
 * `ETCD_ENDPOINTS` when set; otherwise a private single-node etcd started exactly as the tests
 * start theirs (test/support/etcd-cluster.ts: free loopback ports, a fresh temp dir, the etcd
 * binary installed with apt when missing and allowed), stopped and removed by stop() — and by the
 * harness' exit hook and watchdog if the demo dies first.
 */
export async function startDemoEtcd(): Promise<DemoEtcd> {
  if (!process.env.ETCD_ENDPOINTS?.trim())
    console.log('  ETCD_ENDPOINTS is unset: starting an embedded etcd…');
  const etcd = await etcdFromEnvOrStart();
  const { endpoints, version, cluster } = etcd;
  if (!cluster) {
    return {
      endpoints,
      description: `${version ? `etcd ${version}` : 'etcd'} at ${endpoints.join(', ')} (ETCD_ENDPOINTS)`,
      embedded: false,
      stop: () => Promise.resolve(),
    };
  }
  const member = cluster.members[0];
  const dataDir = member ? path.dirname(member.dataDir) : undefined;
  return {
    endpoints,
    description: `embedded etcd${version ? ` ${version}` : ''} at ${endpoints.join(', ')}, pid ${member?.pid ?? '?'}, data in ${dataDir ?? '?'}`,
    embedded: true,
    ...(dataDir ? { dataDir } : {}),
    stop: () => etcd.stop(),
  };
}
