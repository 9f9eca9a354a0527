/**
 * TLS and authentication for the test etcd (used by `./etcd-cluster.ts`, no vitest import):
 * - {@link generateTlsFiles}: a CA, a server certificate for 127.0.0.1/localhost and a client
 *   certificate, made with `openssl` for one test run in the cluster's temp dir;
 * - {@link enableAuth}: a root user, a role limited to one prefix and a user with that role, then
 *   `auth enable` — what an operator does before handing an application its credentials;
 * - {@link requestJson}: GET/POST over http or https with the client certificate, for health checks.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { NoopPolicy } from 'cockatiel';
import { Etcd3 } from 'etcd3';

const execFileAsync = promisify(execFile);

/** PEM files of a test run; `ca`, `cert` and `key` are what a client needs (etcdctl's flags). */
export interface EtcdTlsFiles {
  dir: string;
  /** CA that signed both the server and the client certificate (`--cacert`). */
  ca: string;
  /** Client certificate (`--cert`); its CN is no etcd user, so it authenticates nobody by itself. */
  cert: string;
  /** Client private key (`--key`). */
  key: string;
  serverCert: string;
  serverKey: string;
}

export interface EtcdCredentials {
  username: string;
  password: string;
}

/** Users and the role {@link enableAuth} created. Passwords are random per run. */
export interface EtcdAuth {
  root: EtcdCredentials;
  /** A user whose only role grants readwrite on {@link prefix}. */
  user: EtcdCredentials;
  role: string;
  /** The prefix the user may read and write, e.g. `app/`. */
  prefix: string;
}

export interface AuthSetupOptions {
  /** Prefix the limited user may read and write; default `app/`. */
  prefix?: string;
  /** Name of the limited user; default `app-user`. */
  username?: string;
  /**
   * Tokens expire after this many seconds, to test token renewal: simple tokens after that long
   * unused on a member (`--auth-token simple --auth-token-ttl`), JWTs that long after issue.
   * Default etcd's (simple tokens, 300 s).
   */
  tokenTtlSeconds?: number;
  /** `simple` (etcd's default) or `jwt` (signed with an RSA key made for the run). */
  tokenType?: 'simple' | 'jwt';
}

/** CN of the client certificate: deliberately no user name (etcd would log it in by CN). */
export const CLIENT_CERT_CN = 'etcd-concurrency-test-client';

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd, timeout: 20_000 });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(
      `openssl ${args[0] ?? ''} failed (${why}); TLS tests need openssl on PATH (apt-get install openssl)`,
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
  await openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca-key.pem',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=etcd-test-ca',
    ],
    dir,
  );
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
        `0x${randomBytes(8).toString('hex')}`,
        '-out',
        `${name}.pem`,
        '-days',
        '2',
        '-extfile',
        ext,
      ],
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

/** etcd flags for the token type and lifetime asked for; JWT keys are generated into `dir`. */
export async function authServerArgs(options: AuthSetupOptions, dir: string): Promise<string[]> {
  const ttl = options.tokenTtlSeconds;
  if (options.tokenType === 'jwt') {
    await openssl(['genrsa', '-out', 'jwt.key', '2048'], dir);
    await openssl(['rsa', '-in', 'jwt.key', '-pubout', '-out', 'jwt.pub'], dir);
    const key = path.join(dir, 'jwt.key');
    const pub = path.join(dir, 'jwt.pub');
    const spec = `jwt,pub-key=${pub},priv-key=${key},sign-method=RS256${ttl === undefined ? '' : `,ttl=${ttl}s`}`;
    return ['--auth-token', spec];
  }
  if (ttl === undefined) return [];
  return ['--auth-token', 'simple', '--auth-token-ttl', String(ttl)];
}

/** A GET (or POST with `body`) returning status and parsed JSON; over https with the test's client certificate. */
export function requestJson(
  url: string,
  options: { tls?: EtcdTlsFiles | undefined; body?: string; timeoutMs?: number } = {},
): Promise<{ status: number; json: unknown }> {
  const { tls, body, timeoutMs = 1000 } = options;
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        timeout: timeoutMs,
        agent: false,
        ...(secure && tls
          ? { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) });
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Turns on etcd's authentication the way an operator would (`etcdctl user add root`,
 * `role add`, `role grant-permission --prefix=true`, `user add`, `user grant-role`,
 * `auth enable`), through etcd3's raw Auth API so that no etcdctl is needed.
 */
export async function enableAuth(
  endpoints: string[],
  tls: EtcdTlsFiles | undefined,
  options: AuthSetupOptions = {},
): Promise<EtcdAuth> {
  const prefix = options.prefix ?? 'app/';
  const auth: EtcdAuth = {
    root: { username: 'root', password: `root-pw-${randomBytes(12).toString('hex')}` },
    user: { username: options.username ?? 'app-user', password: `app-pw-${randomBytes(12).toString('hex')}` },
    role: 'app-role',
    prefix,
  };
  const client = new Etcd3({
    hosts: endpoints,
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
  try {
    await client.auth.userAdd({ name: auth.root.username, password: auth.root.password });
    await client.auth.userGrantRole({ user: auth.root.username, role: 'root' });
    await client.auth.roleAdd({ name: auth.role });
    await client.auth.roleGrantPermission({
      name: auth.role,
      perm: { permType: 'Readwrite', key: Buffer.from(prefix), range_end: prefixEnd(prefix) },
    });
    await client.auth.userAdd({ name: auth.user.username, password: auth.user.password });
    await client.auth.userGrantRole({ user: auth.user.username, role: auth.role });
    await client.auth.authEnable({});
  } finally {
    client.close();
  }
  return auth;
}

/**
 * A member's id and the leader it follows, over gRPC: with auth enabled etcd 3.4's HTTP gateway
 * refuses requests that present a client certificate ("CommonName of client sending a request
 * against gateway will be ignored"), and Status needs no token.
 */
export async function grpcMemberStatus(
  clientUrl: string,
  tls: EtcdTlsFiles,
  timeoutMs = 1000,
): Promise<{ id: string; leader: string } | undefined> {
  const client = new Etcd3({
    hosts: clientUrl,
    credentials: {
      rootCertificate: readFileSync(tls.ca),
      certChain: readFileSync(tls.cert),
      privateKey: readFileSync(tls.key),
    },
    faultHandling: { global: new NoopPolicy(), host: () => new NoopPolicy() },
  });
  try {
    const res = await client.maintenance.status({ deadline: new Date(Date.now() + timeoutMs) });
    return { id: res.header.member_id, leader: res.leader };
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

/** The end of the range of keys starting with `prefix` (etcdctl's `--prefix`). */
function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
