/**
 * Certificates for a TLS etcd, made with `openssl` in the cluster's temp dir: a CA, a server
 * certificate for 127.0.0.1/localhost and a client certificate.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { EtcdTlsFiles } from './types.js';

const execFileAsync = promisify(execFile);

/** CN of the client certificate: deliberately no user name (etcd would log it in by CN). */
export const CLIENT_CERT_CN = 'etcd-concurrency-test-client';

/** Runs `openssl` in `cwd`; rejects saying that TLS needs openssl. */
export async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd, timeout: 20_000 });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(
      `openssl ${args[0] ?? ''} failed (${why}); a TLS etcd needs openssl on PATH (apt-get install openssl)`,
      { cause: err },
    );
  }
}

/**
 * Generates a CA, a server certificate (SAN IP 127.0.0.1 and DNS localhost) and a client
 * certificate, all EC P-256 (fast to make), valid for two days, into `dir`.
 */
export async function generateTlsFiles(dir: string): Promise<EtcdTlsFiles> {
  const f = (name: string) => path.join(dir, name);
  const files: EtcdTlsFiles = {
    dir,
    ca: f('ca.pem'),
    cert: f('client.pem'),
    key: f('client-key.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server-key.pem'),
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = ['req', '-x509', ...ec, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2'];
  await openssl([...ca, '-subj', '/CN=etcd-test-ca'], dir);
  await writeFile(
    f('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  await writeFile(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  const sign = async (name: string, cn: string, ext: string) => {
    await openssl(
      ['req', ...ec, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`],
      dir,
    );
    const serial = `0x${randomBytes(8).toString('hex')}`;
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca-key.pem',
        '-set_serial',
        serial,
      ].concat(['-out', `${name}.pem`, '-days', '2', '-extfile', ext]),
      dir,
    );
  };
  await Promise.all([
    sign('server', 'etcd-test-server', 'server.ext'),
    sign('client', CLIENT_CERT_CN, 'client.ext'),
  ]);
  return files;
}

/** etcd flags serving clients over TLS and requiring a client certificate signed by the CA. */
export function tlsServerArgs(files: EtcdTlsFiles): string[] {
  return [
    '--cert-file',
    files.serverCert,
    '--key-file',
    files.serverKey,
    '--trusted-ca-file',
    files.ca,
    '--client-cert-auth',
  ];
}
