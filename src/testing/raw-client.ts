import { readFileSync } from 'node:fs';
import { NoopPolicy } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import type { EtcdTlsFiles } from './types.js';

/**
 * A plain etcd3 client for the harness' own set-up calls: no retries and no circuit breaker, so
 * that a member that does not answer yet fails the call at once and the caller polls again.
 */
export function rawClient(hosts: string | string[], tls: EtcdTlsFiles | undefined): Etcd3 {
  return new Etcd3({
    hosts,
    ...(tls
      ? {
          credentials: {
            rootCertificate: readFileSync(tls.ca),
            certChain: readFileSync(tls.cert),
            privateKey: readFileSync(tls.key),
          },
        }
      : {}),
    faultHandling: { global: new NoopPolicy(), host: () => new NoopPolicy() },
  });
}
