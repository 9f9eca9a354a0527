/**
 * Authentication for a private etcd: the server flags for the token type, and turning auth on
 * the way an operator does before handing an application its credentials.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import { prefixRangeEnd } from '../etcd/kv.js';
import { rawClient } from './raw-client.js';
import { openssl } from './tls.js';
import type { AuthSetupOptions, EtcdAuth, EtcdTlsFiles } from './types.js';

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

/**
 * Turns on etcd's authentication as an operator would (`etcdctl user add root`, `role add`,
 * `role grant-permission --prefix=true`, `user add`, `user grant-role`, `auth enable`), through
 * etcd3's raw Auth API so that no etcdctl is needed.
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
  const client: Etcd3 = rawClient(endpoints, tls);
  try {
    await client.auth.userAdd({ name: auth.root.username, password: auth.root.password });
    await client.auth.userGrantRole({ user: auth.root.username, role: 'root' });
    await client.auth.roleAdd({ name: auth.role });
    await client.auth.roleGrantPermission({
      name: auth.role,
      perm: { permType: 'Readwrite', key: Buffer.from(prefix), range_end: prefixRangeEnd(prefix) },
    });
    await client.auth.userAdd({ name: auth.user.username, password: auth.user.password });
    await client.auth.userGrantRole({ user: auth.user.username, role: auth.role });
    await client.auth.authEnable({});
  } finally {
    client.close();
  }
  return auth;
}
