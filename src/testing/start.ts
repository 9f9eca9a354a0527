import { ensureEtcdBinary } from './binary.js';
import { DEFAULT_START_TIMEOUT_MS, startProcessCluster } from './cluster.js';
import { DOCKER_IMAGE, startDockerEtcd } from './docker.js';
import { parseEndpoints, serverVersion } from './health.js';
import type { EtcdCluster, StartEtcdOptions } from './types.js';

function noEtcdError(reason: string): Error {
  return new Error(
    `Cannot start etcd: ${reason}.\n` +
      'Do one of:\n' +
      '  - install etcd: `sudo apt-get install -y etcd-server` (Debian/Ubuntu), or put an `etcd` binary from\n' +
      '    https://github.com/etcd-io/etcd/releases on PATH (or point ETCD_BIN at it);\n' +
      `  - install testcontainers (npm install -D testcontainers) and start a Docker engine: a single node\n` +
      `    then runs in ${DOCKER_IMAGE}.`,
  );
}

/**
 * Starts a private etcd on free 127.0.0.1 ports in a fresh temp dir and resolves once every
 * member reports healthy. The `etcd` binary is `$ETCD_BIN`, else the first on PATH; as root on
 * Debian/Ubuntu without one, the `etcd-server` package is installed with apt-get first; with no
 * binary at all, a single node runs in Docker through testcontainers (an optional dependency).
 * Stop it with `stop()` or `await using`; it is also killed if the process exits.
 *
 * @example
 * ```ts
 * import { startEtcd } from 'etcd-concurrency/testing';
 *
 * await using etcd = await startEtcd({ members: 3 });
 * const client = etcd.client();                 // closed by etcd.stop()
 * await client.put('k').value('v');
 * await (await etcd.leader()).kill();           // a crash of the leader
 * ```
 */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const size = opts.members ?? 1;
  if (size !== 1 && size !== 3) {
    throw new RangeError(`startEtcd: members must be 1 or 3, got ${String(size)}`);
  }
  const bin = await ensureEtcdBinary();
  if (bin !== undefined) return startProcessCluster(bin, opts);
  if (opts.tls || opts.auth)
    throw noEtcdError('a TLS or auth etcd needs the `etcd` binary, which is not on PATH');
  if (size === 1) {
    const docker = await startDockerEtcd(opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    if (docker) return docker;
    throw noEtcdError('no `etcd` binary on PATH and no Docker engine answers');
  }
  throw noEtcdError(`a ${size}-member cluster needs the \`etcd\` binary, which is not on PATH`);
}

/** The etcd a script (bench, demo) runs against: see {@link etcdFromEnvOrStart}. */
export interface ScriptEtcd {
  endpoints: string[];
  version: string | undefined;
  /** The private etcd started because ETCD_ENDPOINTS was unset; undefined otherwise. */
  cluster: EtcdCluster | undefined;
  /** Stops the private etcd, if one was started. */
  stop(): Promise<void>;
}

/**
 * `ETCD_ENDPOINTS` when set; otherwise a private single-node etcd started exactly as the tests
 * start theirs (free loopback ports, a fresh temp dir, etcd-server installed with apt if missing).
 */
export async function etcdFromEnvOrStart(): Promise<ScriptEtcd> {
  const fromEnv = process.env.ETCD_ENDPOINTS?.trim();
  if (fromEnv) {
    const endpoints = parseEndpoints(fromEnv);
    return {
      endpoints,
      version: await serverVersion(endpoints[0] ?? ''),
      cluster: undefined,
      stop: () => Promise.resolve(),
    };
  }
  const cluster = await startEtcd({ members: 1 });
  return {
    endpoints: cluster.endpoints,
    version: await serverVersion(cluster.endpoints[0] ?? ''),
    cluster,
    stop: () => cluster.stop(),
  };
}
