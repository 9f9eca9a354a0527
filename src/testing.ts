/**
 * `etcd-concurrency/testing`: a real etcd for your own tests, the one this project's tests use.
 *
 * ```ts
 * import { startEtcd } from 'etcd-concurrency/testing';
 *
 * await using etcd = await startEtcd();            // or { members: 3 }
 * const client = etcd.client();
 * ```
 *
 * Needs the `etcd` binary (PATH or `$ETCD_BIN`; as root on Debian/Ubuntu it installs the
 * `etcd-server` package), else a single node runs in Docker through `testcontainers`, an optional
 * dependency that is only loaded then. Imports no test framework.
 *
 * @module
 */
export { startEtcd } from './testing/start.js';
export { ensureEtcdBinary, ensureEtcdctl } from './testing/binary.js';
export type {
  AuthSetupOptions,
  EtcdAuth,
  EtcdCluster,
  EtcdCredentials,
  EtcdMember,
  EtcdTlsFiles,
  StartEtcdOptions,
} from './testing/types.js';
