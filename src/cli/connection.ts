import type { Command } from 'commander';
import type { Etcd3 } from 'etcd3';
import { createClient } from '../etcd/client.js';
import { InvalidArgumentError } from '../errors.js';
import type { Session } from '../session/session.js';
import { PROGRAM, type Output } from './output.js';
import { readPassword } from './password.js';
import { resolveSettings, type GlobalOptions } from './settings.js';

export type { GlobalOptions } from './settings.js';

/** Declares the global options on the program (commander also accepts them after the subcommand). */
export function addGlobalOptions(program: Command): Command {
  return program
    .option(
      '--endpoints <list>',
      'comma-separated etcd endpoints (default: $ETCDCTL_ENDPOINTS, $ETCD_ENDPOINTS or 127.0.0.1:2379)',
    )
    .option(
      '--cacert <file>',
      'verify servers with this CA certificate (default: $ETCDCTL_CACERT, $ETCD_CACERT)',
    )
    .option('--cert <file>', 'client certificate for TLS (default: $ETCDCTL_CERT, $ETCD_CERT)')
    .option('--key <file>', 'client private key for TLS (default: $ETCDCTL_KEY, $ETCD_KEY)')
    .option(
      '--user <user[:password]>',
      'etcd user; without a password it is read from stdin (default: $ETCDCTL_USER, $ETCD_USER)',
    )
    .option(
      '--password <password>',
      'password of --user; prefer $ETCDCTL_PASSWORD (default: $ETCDCTL_PASSWORD)',
    )
    .option(
      '--command-timeout <duration>',
      'deadline of each etcd request, e.g. 5s (default: $ETCDCTL_COMMAND_TIMEOUT or 5s)',
    )
    .option('--json', 'machine-readable output: one JSON object per line');
}

/**
 * An etcd client from the global options and the environment, in etcdctl's order (see
 * `settings.ts`). Warnings (a password on the command line, a variable shadowed by a flag) go to
 * `out` as notes; a password still missing is read from stdin.
 */
export async function connect(options: GlobalOptions, out: Output): Promise<Etcd3> {
  const settings = resolveSettings(options, process.env);
  for (const warning of settings.warnings)
    out.note('warning', `${PROGRAM}: ${warning}`, { message: warning });
  const { clientOptions, passwordFor } = settings;
  if (passwordFor !== undefined) {
    const password = await readPassword(passwordFor);
    if (password === undefined) {
      throw new InvalidArgumentError(
        `--user ${passwordFor} needs a password: type it when asked, pipe it to stdin, ` +
          'set ETCDCTL_PASSWORD, or give --user user:PASSWORD (visible to other users)',
      );
    }
    clientOptions.auth = { username: passwordFor, password };
  }
  return createClient(clientOptions);
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
