import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { etcdFromEnvOrStart } from '../test/support/etcd-cluster.js';

/** The etcd a run measures against. */
export interface BenchEtcd {
  endpoints: string[];
  /** e.g. `private single-node etcd 3.4.23 started by the bench`. */
  description: string;
  stop(): Promise<void>;
}

/** RAM-backed and writable: the private etcd's data dir goes there, so fsync does not dominate. */
const TMPFS = '/dev/shm';

/**
 * `ETCD_ENDPOINTS` when set, else a private single-node etcd started exactly as the tests start
 * theirs (test/support/etcd.ts: free loopback ports, a temp dir, installs etcd-server if missing),
 * with its data dir on tmpfs where there is one: the bench measures the protocols, not the disk.
 */
export async function benchEtcd(): Promise<BenchEtcd> {
  const onTmpfs =
    !process.env.ETCD_ENDPOINTS?.trim() &&
    (await access(TMPFS, constants.W_OK).then(
      () => true,
      () => false,
    ));
  const tmpdir = process.env.TMPDIR;
  // The harness makes its data dir under os.tmpdir(), which reads TMPDIR on every call.
  if (onTmpfs) process.env.TMPDIR = TMPFS;
  let etcd: Awaited<ReturnType<typeof etcdFromEnvOrStart>>;
  try {
    etcd = await etcdFromEnvOrStart();
  } finally {
    if (tmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdir;
  }
  const version = etcd.version ?? 'unknown';
  return {
    endpoints: etcd.endpoints,
    description: etcd.cluster
      ? `private single-node etcd ${version} on loopback${onTmpfs ? `, data on tmpfs (${TMPFS})` : ''}, started by the bench like the tests' (heartbeat 50 ms, election timeout 500 ms)`
      : `etcd ${version} at ETCD_ENDPOINTS (${etcd.endpoints.length} endpoint(s))`,
    stop: () => etcd.stop(),
  };
}
