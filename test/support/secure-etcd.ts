/**
 * TLS and authentication for the test etcd, now in `src/testing/` (shipped with
 * `etcd-concurrency/testing`); re-exported for the tests that use them directly.
 */
export { CLIENT_CERT_CN, generateTlsFiles, tlsServerArgs } from '../../src/testing/tls.js';
export { authServerArgs, enableAuth } from '../../src/testing/auth.js';
export { grpcMemberStatus, requestJson } from '../../src/testing/health.js';
export type { AuthSetupOptions, EtcdAuth, EtcdCredentials, EtcdTlsFiles } from '../../src/testing/types.js';
