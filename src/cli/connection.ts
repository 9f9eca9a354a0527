import type { Command } from 'commander';
import type { Etcd3 } from 'etcd3';
import { createClient, type ClientOptions } from '../client.js';
import { InvalidArgumentError } from '../errors.js';
import type { Session } from '../session/session.js';

/** The global options every subcommand understands, named as etcdctl names them. */
export interface GlobalOptions {
  endpoints?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  user?: string;
  password?: string;
  json?: boolean;
}

/** Declares the global options on the program (commander also accepts them after the subcommand). */
export function addGlobalOptions(program: Command): Command {
  return program
    .option(
      '--endpoints <list>',
      'comma-separated etcd endpoints (default: $ETCD_ENDPOINTS or 127.0.0.1:2379)',
    )
    .option('--cacert <file>', 'verify servers with this CA certificate, as etcdctl (default: $ETCD_CACERT)')
    .option('--cert <file>', 'client certificate for TLS, as etcdctl (default: $ETCD_CERT)')
    .option('--key <file>', 'client private key for TLS, as etcdctl (default: $ETCD_KEY)')
    .option('--user <user[:password]>', 'etcd user, as etcdctl (default: $ETCD_USER)')
    .option('--password <password>', 'password of --user, when it is not given as user:password')
    .option('--json', 'machine-readable output: one JSON object per line');
}

/**
 * An etcd client from the global options, falling back to the environment that `createClient`
 * reads (`ETCD_ENDPOINTS`, `ETCD_CACERT`, `ETCD_CERT`, `ETCD_KEY`, `ETCD_USER`).
 */
export function connect(options: GlobalOptions): Etcd3 {
  const clientOptions: ClientOptions = {};
  if (options.endpoints !== undefined) clientOptions.endpoints = options.endpoints;
  if (options.cacert !== undefined || options.cert !== undefined || options.key !== undefined) {
    clientOptions.tls = {
      ca: options.cacert ?? process.env.ETCD_CACERT,
      cert: options.cert ?? process.env.ETCD_CERT,
      key: options.key ?? process.env.ETCD_KEY,
    };
  }
  if (options.user !== undefined) clientOptions.auth = parseUser(options.user, options.password);
  else if (options.password !== undefined) {
    throw new InvalidArgumentError('--password needs --user');
  }
  return createClient(clientOptions);
}

function parseUser(user: string, password: string | undefined): { username: string; password: string } {
  const colon = user.indexOf(':');
  if (colon >= 0) {
    if (password !== undefined) {
      throw new InvalidArgumentError('give the password either in --user user:password or in --password');
    }
    return { username: user.slice(0, colon), password: user.slice(colon + 1) };
  }
  if (password === undefined) {
    throw new InvalidArgumentError(`--user ${user} needs a password: --user ${user}:PASSWORD or --password`);
  }
  return { username: user, password };
}

/** Closes a session (revoking its lease); if etcd cannot be reached, the lease expires by itself. */
export async function closeQuietly(session: Session | undefined): Promise<void> {
  if (!session) return;
  try {
    await session.close();
  } catch {
    // etcd is unreachable: the lease then expires by itself after its TTL.
    session.orphan();
  }
}
