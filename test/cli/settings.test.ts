import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { parseDuration, resolveSettings, SETTINGS } from '../../src/cli/settings.js';

/**
 * Where the CLI's connection settings come from (pure resolution; `ops.test.ts` checks the same
 * against a real etcd): a flag, then etcdctl's ETCDCTL_* variable, then the library's ETCD_*.
 */
describe('connection settings', () => {
  it('takes each setting from its flag, else ETCDCTL_*, else ETCD_*, each on its own', () => {
    const sources = fc.record({
      flag: fc.option(fc.constant('from-flag'), { nil: undefined }),
      etcdctl: fc.option(fc.constantFrom('from-etcdctl', ''), { nil: undefined }),
      etcd: fc.option(fc.constantFrom('from-etcd', ''), { nil: undefined }),
    });
    fc.assert(
      fc.property(sources, sources, ({ flag, etcdctl, etcd }, tls) => {
        const env: NodeJS.ProcessEnv = {};
        if (etcdctl !== undefined) env.ETCDCTL_ENDPOINTS = etcdctl;
        if (etcd !== undefined) env.ETCD_ENDPOINTS = etcd;
        if (tls.etcdctl !== undefined) env.ETCDCTL_CACERT = tls.etcdctl;
        if (tls.etcd !== undefined) env.ETCD_CACERT = tls.etcd;
        const { clientOptions } = resolveSettings(
          { ...(flag ? { endpoints: flag } : {}), ...(tls.flag ? { cacert: tls.flag } : {}) },
          env,
        );
        // an empty variable is no setting, as for etcdctl
        const first = (s: { flag?: string; etcdctl?: string; etcd?: string }) =>
          [s.flag, s.etcdctl, s.etcd].find((v) => v !== undefined && v !== '');
        expect(clientOptions.endpoints).toBe(first({ flag, etcdctl, etcd }));
        expect(clientOptions.tls?.ca).toBe(first(tls));
      }),
    );
  });

  it('reads every etcdctl variable it documents', () => {
    const env = {
      ETCDCTL_ENDPOINTS: 'https://e1:2379,https://e2:2379',
      ETCDCTL_CACERT: '/ca.pem',
      ETCDCTL_CERT: '/cert.pem',
      ETCDCTL_KEY: '/key.pem',
      ETCDCTL_USER: 'alice',
      ETCDCTL_PASSWORD: 'pw-from-env',
      ETCDCTL_COMMAND_TIMEOUT: '7s',
    };
    const { clientOptions, warnings, passwordFor } = resolveSettings({}, env);
    expect(clientOptions).toEqual({
      endpoints: 'https://e1:2379,https://e2:2379',
      tls: { ca: '/ca.pem', cert: '/cert.pem', key: '/key.pem' },
      auth: { username: 'alice', password: 'pw-from-env' },
      callTimeoutMs: 7000,
    });
    expect(warnings).toEqual([]);
    expect(passwordFor).toBeUndefined();
    expect(Object.values(SETTINGS).flatMap((s) => s.env.filter((e) => e.startsWith('ETCDCTL_')))).toEqual(
      Object.keys(env),
    );
  });

  it('takes ETCDCTL_USER as user:password too, and ETCD_USER as the library does', () => {
    expect(resolveSettings({}, { ETCDCTL_USER: 'bob:pw:with:colons' }).clientOptions.auth).toEqual({
      username: 'bob',
      password: 'pw:with:colons',
    });
    expect(resolveSettings({}, { ETCD_USER: 'carol:pw' }).clientOptions.auth).toEqual({
      username: 'carol',
      password: 'pw',
    });
  });

  it('warns, without the password, when a password is on the command line', () => {
    for (const options of [{ user: 'alice:s3cret' }, { user: 'alice', password: 's3cret' }]) {
      const { clientOptions, warnings } = resolveSettings(options, {});
      expect(clientOptions.auth).toEqual({ username: 'alice', password: 's3cret' });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/password of "alice" is on the command line.*ETCDCTL_PASSWORD/);
      expect(warnings.join()).not.toContain('s3cret');
    }
    // --user on the command line, the password from the environment: nothing to warn about
    expect(resolveSettings({ user: 'alice' }, { ETCDCTL_PASSWORD: 's3cret' }).warnings).toEqual([]);
  });

  it('asks for the password (from stdin) when only a user is known', () => {
    const resolved = resolveSettings({ user: 'alice' }, {});
    expect(resolved.passwordFor).toBe('alice');
    expect(resolved.clientOptions.auth).toBeUndefined();
    expect(resolveSettings({}, { ETCDCTL_USER: 'dave' }).passwordFor).toBe('dave');
  });

  it('says when a flag shadows an ETCDCTL_ variable (etcdctl itself refuses to start then)', () => {
    const { clientOptions, warnings } = resolveSettings(
      { endpoints: 'flag:2379' },
      { ETCDCTL_ENDPOINTS: 'env:2379', ETCD_ENDPOINTS: 'lib:2379' },
    );
    expect(clientOptions.endpoints).toBe('flag:2379');
    expect(warnings).toEqual(['ETCDCTL_ENDPOINTS is set, but --endpoints was given: using --endpoints']);
    // the library's own variables are a fallback, not a conflict
    expect(resolveSettings({ endpoints: 'flag:2379' }, { ETCD_ENDPOINTS: 'lib:2379' }).warnings).toEqual([]);
  });

  it('refuses contradictory or incomplete credentials', () => {
    expect(() => resolveSettings({ password: 'x' }, {})).toThrow(/--password needs --user/);
    expect(() => resolveSettings({ user: 'a:b', password: 'c' }, {})).toThrow(InvalidArgumentError);
  });

  it('parses command timeouts as Go durations, as etcdctl does', () => {
    expect(parseDuration('5s', 'flag')).toBe(5000);
    expect(parseDuration('1m30s', 'flag')).toBe(90_000);
    expect(parseDuration('250ms', 'flag')).toBe(250);
    for (const bad of ['5', '', 's', '5 s', '-1s', '0s', '5sx']) {
      expect(() => parseDuration(bad, 'ETCDCTL_COMMAND_TIMEOUT')).toThrow(
        /ETCDCTL_COMMAND_TIMEOUT must be a duration such as 5s/,
      );
    }
  });
});
