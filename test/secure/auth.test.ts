import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Barrier,
  Election,
  EtcdUnavailableError,
  InvalidArgumentError,
  Mutex,
  PermissionDeniedError,
  Session,
  createClient,
} from '../../src/index.js';
import { collectOutputs, tokenOf, useSecureEtcd } from './fixture.js';

const etcd = useSecureEtcd();
const tokens: string[] = [];
const outputs = collectOutputs(() => {
  const { auth } = etcd.credentials();
  return [auth.user.password, auth.root.password, 'not-the-password-5d1e', ...tokens];
});

/** Resolves with how long `promise` took to reject, and the error. */
async function timedRejection(promise: Promise<unknown>) {
  const started = performance.now();
  const err = await outputs.rejection(promise);
  return { err, ms: performance.now() - started };
}

describe('Authentication', () => {
  it('a wrong password is a clear PermissionDeniedError at Session.create, naming the user only', async () => {
    const { tls, auth } = etcd.credentials();
    const client = etcd.client({
      tls,
      auth: { username: auth.user.username, password: 'not-the-password-5d1e' },
    });
    const { err, ms } = await timedRejection(Session.create(client, { ttl: 5 }));
    expect(err).toBeInstanceOf(PermissionDeniedError);
    const denied = err as PermissionDeniedError;
    expect(denied.message).toBe(
      `etcd refused the operation for user "${auth.user.username}": authentication failed: wrong user name or password`,
    );
    expect(denied.user).toBe(auth.user.username);
    expect(denied.key).toBeUndefined();
    expect(ms).toBeLessThan(2000);
  });

  it('a wrong password fails watches and reads too, instead of retrying forever', async () => {
    const { tls, auth } = etcd.credentials();
    const client = etcd.client({
      tls,
      auth: { username: auth.user.username, password: 'not-the-password-5d1e' },
    });
    const name = etcd.name('observe');
    const observed = await timedRejection(firstValueFrom(Election.observe(client, name)));
    expect(observed.err).toBeInstanceOf(PermissionDeniedError);
    expect(String(observed.err)).toContain('authentication failed');
    expect(observed.ms).toBeLessThan(2000);
    const waited = await timedRejection(new Barrier(client, name).wait());
    expect(waited.err).toBeInstanceOf(PermissionDeniedError);
  });

  it('an unknown user is refused the same way', async () => {
    const { tls, auth } = etcd.credentials();
    const client = etcd.client({ tls, auth: { username: 'nobody-here', password: auth.user.password } });
    const { err } = await timedRejection(Session.create(client));
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect((err as PermissionDeniedError).user).toBe('nobody-here');
  });

  it('the auth token, a bearer secret too, never shows in errors', async () => {
    const client = etcd.user();
    const token = await tokenOf(client);
    expect(token).toMatch(/\S{8,}/);
    tokens.push(token!);
    const session = await etcd.session(client);
    await outputs.rejection(new Mutex(session, 'forbidden/token-check').lock());
  });
});

describe('TLS', () => {
  it('a client without a certificate is refused when etcd requires one: a clear error, no hang', async () => {
    const { tls, auth } = etcd.credentials();
    const client = etcd.client({ tls: { ca: tls.ca }, auth: auth.user });
    const { err, ms } = await timedRejection(Session.create(client, { ttl: 5 }));
    expect(err).toBeInstanceOf(EtcdUnavailableError);
    expect(String(err)).toContain('etcd did not accept a client certificate');
    expect(String(err)).toContain('tls.cert and tls.key (ETCD_CERT, ETCD_KEY');
    expect(ms).toBeLessThan(2000);
    // Watches fail as well rather than reconnecting forever.
    const observed = await timedRejection(firstValueFrom(Election.observe(client, etcd.name('no-cert'))));
    expect(observed.err).toBeInstanceOf(EtcdUnavailableError);
    expect(observed.ms).toBeLessThan(2000);
  });

  it('a client that does not trust the server’s CA is told to pass it', async () => {
    const { auth } = etcd.credentials();
    const client = etcd.client({ auth: auth.user }); // https endpoints, system roots only
    const { err, ms } = await timedRejection(Session.create(client, { ttl: 5 }));
    expect(err).toBeInstanceOf(EtcdUnavailableError);
    expect(String(err)).toContain('server certificate is not trusted');
    expect(String(err)).toContain('tls.ca (ETCD_CACERT');
    expect(ms).toBeLessThan(2000);
  });

  it('accepts endpoints without a scheme when tls is given, and buffers instead of paths', async () => {
    const { tls, auth } = etcd.credentials();
    const { readFile } = await import('node:fs/promises');
    const client = etcd.client({
      endpoints: etcd.cluster().endpoints.map((e) => e.replace(/^https:\/\//, '')),
      tls: { ca: await readFile(tls.ca), cert: await readFile(tls.cert), key: await readFile(tls.key) },
      auth: auth.user,
    });
    const session = await etcd.session(client);
    const hold = await new Mutex(session, etcd.name('buffers')).lock();
    await hold.release();
  });

  it('rejects half a client certificate and unreadable files with InvalidArgumentError', () => {
    const { tls } = etcd.credentials();
    expect(() => createClient({ tls: { ca: tls.ca, cert: tls.cert } })).toThrow(InvalidArgumentError);
    const missing = outputs.error(
      (() => {
        try {
          createClient({ tls: { ca: '/nonexistent/ca.pem' } });
        } catch (err) {
          return err;
        }
        return undefined;
      })(),
    );
    expect(missing).toBeInstanceOf(InvalidArgumentError);
    expect(String(missing)).toContain('/nonexistent/ca.pem');
  });
});

describe('Settings from the environment, as etcdctl’s', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const key of ['ETCD_ENDPOINTS', 'ETCD_CACERT', 'ETCD_CERT', 'ETCD_KEY', 'ETCD_USER']) {
      if (saved[key] === undefined) Reflect.deleteProperty(process.env, key);
      else process.env[key] = saved[key];
    }
  });

  it('createClient() reads ETCD_ENDPOINTS, ETCD_CACERT, ETCD_CERT, ETCD_KEY and ETCD_USER', async () => {
    const { tls, auth } = etcd.credentials();
    process.env.ETCD_ENDPOINTS = etcd.cluster().endpoints.join(',');
    process.env.ETCD_CACERT = tls.ca;
    process.env.ETCD_CERT = tls.cert;
    process.env.ETCD_KEY = tls.key;
    process.env.ETCD_USER = `${auth.user.username}:${auth.user.password}`;
    const client = createClient();
    etcd.defer(() => {
      client.close();
    });
    const session = await Session.create(client, { ttl: 5 });
    etcd.defer(() => session.close());
    const hold = await new Mutex(session, etcd.name('env')).lock();
    await hold.release();
    const err = await outputs.rejection(new Mutex(session, 'forbidden/env').lock());
    expect((err as PermissionDeniedError).user).toBe(auth.user.username);
  });

  it('ETCD_USER without a password is refused without echoing it', () => {
    process.env.ETCD_USER = 'just-a-name';
    const err = outputs.error(
      (() => {
        try {
          createClient({ endpoints: etcd.cluster().endpoints });
        } catch (e) {
          return e;
        }
        return undefined;
      })(),
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(String(err)).toContain('ETCD_USER must be "user:password"');
  });

  it('a wrong password in ETCD_USER is reported without the password', async () => {
    const { tls, auth } = etcd.credentials();
    process.env.ETCD_CACERT = tls.ca;
    process.env.ETCD_CERT = tls.cert;
    process.env.ETCD_KEY = tls.key;
    process.env.ETCD_USER = `${auth.user.username}:not-the-password-5d1e`;
    const client = createClient({ endpoints: etcd.cluster().endpoints });
    etcd.defer(() => {
      client.close();
    });
    const err = await outputs.rejection(Session.create(client));
    expect(err).toBeInstanceOf(PermissionDeniedError);
  });
});
