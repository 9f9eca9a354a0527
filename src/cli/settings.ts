/**
 * Where the CLI's connection settings come from, in etcdctl's order: a flag wins over its
 * `ETCDCTL_*` variable (etcdctl's own environment, so an operator's shell works unchanged), which
 * wins over the library's `ETCD_*` variable. Each setting is resolved on its own, as etcdctl does.
 * An empty variable counts as unset, as for etcdctl.
 */
import type { ClientOptions } from '../etcd/client.js';
import { InvalidArgumentError } from '../errors.js';

/** The global options every subcommand understands, named as etcdctl names them. */
export interface GlobalOptions {
  endpoints?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  user?: string;
  password?: string;
  commandTimeout?: string;
  json?: boolean;
}

type Setting = 'endpoints' | 'cacert' | 'cert' | 'key' | 'user' | 'password' | 'commandTimeout';

/** Each setting's flag and, in order, the variables read when the flag is not given. */
export const SETTINGS: Record<Setting, { flag: string; env: string[] }> = {
  endpoints: { flag: '--endpoints', env: ['ETCDCTL_ENDPOINTS', 'ETCD_ENDPOINTS'] },
  cacert: { flag: '--cacert', env: ['ETCDCTL_CACERT', 'ETCD_CACERT'] },
  cert: { flag: '--cert', env: ['ETCDCTL_CERT', 'ETCD_CERT'] },
  key: { flag: '--key', env: ['ETCDCTL_KEY', 'ETCD_KEY'] },
  user: { flag: '--user', env: ['ETCDCTL_USER', 'ETCD_USER'] },
  password: { flag: '--password', env: ['ETCDCTL_PASSWORD'] },
  commandTimeout: { flag: '--command-timeout', env: ['ETCDCTL_COMMAND_TIMEOUT'] },
};

/** What {@link resolveSettings} found. Never holds a secret in `warnings`. */
export interface ResolvedSettings {
  /** Everything but the password when it must still be read (see {@link passwordFor}). */
  clientOptions: ClientOptions;
  /** Set when a user is known but no password: it must come from stdin. */
  passwordFor?: string;
  /** Lines for the operator: a password on the command line, a variable shadowed by a flag. */
  warnings: string[];
}

/**
 * Resolves the connection from the flags and the environment without touching either. A
 * password given on the command line (`--password`, `--user name:password`) works but is warned
 * about: other users can read a command line (`ps`, `/proc`, shell history).
 */
export function resolveSettings(options: GlobalOptions, env: NodeJS.ProcessEnv): ResolvedSettings {
  const warnings: string[] = [];
  // `from`: 'flag', or the name of the variable the value came from
  const pick = (setting: Setting): { value: string; from: string } | undefined => {
    const { flag, env: names } = SETTINGS[setting];
    const given = options[setting];
    if (given !== undefined) {
      // etcdctl (3.4 and later) refuses to start when both are set; a flag winning is what
      // operators expect, so say which one was used instead of failing.
      const shadowed = names.find((name) => name.startsWith('ETCDCTL_') && nonEmpty(env[name]));
      if (shadowed) warnings.push(`${shadowed} is set, but ${flag} was given: using ${flag}`);
      return { value: given, from: 'flag' };
    }
    for (const name of names) {
      const value = env[name];
      if (nonEmpty(value)) return { value, from: name };
    }
    return undefined;
  };

  const clientOptions: ClientOptions = {};
  const endpoints = pick('endpoints');
  if (endpoints) clientOptions.endpoints = endpoints.value;
  const [ca, cert, key] = [pick('cacert'), pick('cert'), pick('key')];
  if (ca || cert || key) {
    clientOptions.tls = {
      ...(ca ? { ca: ca.value } : {}),
      ...(cert ? { cert: cert.value } : {}),
      ...(key ? { key: key.value } : {}),
    };
  }
  const timeout = pick('commandTimeout');
  if (timeout) clientOptions.callTimeoutMs = parseDuration(timeout.value, timeout.from);

  const user = pick('user');
  const password = pick('password');
  if (!user) {
    if (password?.from === 'flag') throw new InvalidArgumentError('--password needs --user');
    return { clientOptions, warnings };
  }
  const colon = user.value.indexOf(':');
  const username = colon >= 0 ? user.value.slice(0, colon) : user.value;
  if (colon >= 0) {
    if (password?.from === 'flag' && user.from === 'flag') {
      throw new InvalidArgumentError('give the password either in --user user:password or in --password');
    }
    if (user.from === 'flag') warnings.push(argvPasswordWarning(username));
    clientOptions.auth = { username, password: user.value.slice(colon + 1) };
    return { clientOptions, warnings };
  }
  if (password) {
    if (password.from === 'flag') warnings.push(argvPasswordWarning(username));
    clientOptions.auth = { username, password: password.value };
    return { clientOptions, warnings };
  }
  return { clientOptions, passwordFor: username, warnings };
}

function argvPasswordWarning(username: string): string {
  return (
    `warning: the password of "${username}" is on the command line, where other users can read it ` +
    `(ps, /proc, shell history); set ETCDCTL_PASSWORD instead, or give --user ${username} alone ` +
    'and type the password (or pipe it to stdin)'
  );
}

function nonEmpty(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A Go duration as etcdctl takes it (`5s`, `1m30s`, `500ms`), in milliseconds. */
export function parseDuration(text: string, from: string): number {
  const what = from === 'flag' ? '--command-timeout' : from;
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  const whole = parts.map((p) => p[0]).join('');
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
  if (parts.length === 0 || whole !== text.trim() || !(ms > 0)) {
    throw new InvalidArgumentError(`${what} must be a duration such as 5s, 1m30s or 500ms, got "${text}"`);
  }
  return Math.ceil(ms);
}
