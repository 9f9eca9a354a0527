import { existsSync, readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { benchCommand, type BenchOptions } from './bench.js';
import { addGlobalOptions, type GlobalOptions } from './connection.js';
import { electCommand } from './elect.js';
import { EXIT } from './exit-codes.js';
import { lockCommand, type LockOptions } from './lock.js';
import { observeCommand } from './observe.js';
import { PROGRAM } from './output.js';
import { statusCommand } from './status.js';

/** Sets the process' exit status from a command's result. */
export type Run = (command: () => Promise<number>) => Promise<void>;

/** The command-line program: `lock`, `elect`, `observe`, `status`, `bench`, with etcdctl's global flags. */
export function createProgram(run: Run): Command {
  const program = new Command(PROGRAM)
    .description(
      'Distributed locks and leader election on etcd, wire-compatible with etcdctl and Go clientv3/concurrency.',
    )
    .version(packageVersion(), '-v, --version')
    .showSuggestionAfterError()
    .configureOutput(oneLineErrors('see --help'))
    .exitOverride();
  addGlobalOptions(program);
  program.addHelpText(
    'after',
    `
Examples:
  $ ${PROGRAM} lock jobs/nightly -- ./backup.sh     run backup.sh while holding the lock
  $ ${PROGRAM} elect election/web "$(hostname)"     campaign; Ctrl-C resigns
  $ ${PROGRAM} observe election/web                 print the leader as it changes
  $ ${PROGRAM} status jobs/                         who holds and who waits, under jobs/
  $ ${PROGRAM} --endpoints 10.0.0.1:2379 observe election/web --json

Connection settings: a flag wins over etcdctl's variable, which wins over the library's:
  --endpoints  $ETCDCTL_ENDPOINTS  $ETCD_ENDPOINTS      --cacert  $ETCDCTL_CACERT  $ETCD_CACERT
  --cert       $ETCDCTL_CERT       $ETCD_CERT           --key     $ETCDCTL_KEY     $ETCD_KEY
  --user       $ETCDCTL_USER       $ETCD_USER           --password  $ETCDCTL_PASSWORD
  --command-timeout  $ETCDCTL_COMMAND_TIMEOUT
A --user without a password reads it from stdin (asked for, without echo, on a terminal).

Exit statuses:
  ${EXIT.ok}    success                      ${EXIT.failed}   the operation failed (one line on stderr says why)
  ${EXIT.usage}    bad arguments                ${EXIT.notAcquired}  lock: not acquired (--try, --timeout)
  ${EXIT.lockLost}   lock: lost while the command ran
  lock -- command: otherwise the command's own status (128+N if signal N ended it)`,
  );

  program
    .command('lock')
    .description(
      'Run a command while holding a distributed lock (etcdctl lock compatible); without a command, hold it until Ctrl-C',
    )
    .argument('<name>', 'lock name; keys live under <name>/ as with etcdctl and Go')
    .argument('[command...]', 'the command to run, after --')
    .configureOutput(oneLineErrors('put the command and its options after --; see --help'))
    .addOption(
      new Option('--ttl <seconds>', 'session TTL: how long a crashed holder keeps the lock')
        .default(10)
        .argParser(positiveInteger),
    )
    .addOption(
      new Option(
        '--grace <seconds>',
        'if the lock is lost: seconds between SIGTERM and SIGKILL to the command (default: TTL/3)',
      ).argParser(positiveNumber),
    )
    .addOption(
      new Option(
        '--timeout <seconds>',
        `give up waiting for the lock after this long (exit ${EXIT.notAcquired})`,
      )
        .argParser(positiveNumber)
        .conflicts('try'),
    )
    .addOption(
      new Option('--try', `do not wait: if the lock is held, name the holder and exit ${EXIT.notAcquired}`),
    )
    .addHelpText(
      'after',
      `
The command gets ETCD_LOCK_KEY (the lock's key) and ETCD_LOCK_REV (its create revision: a fencing
token that grows with every new holder). SIGINT, SIGTERM and SIGHUP are forwarded to the command;
the lock is released when it exits. If the lock is lost (lease expired, key deleted), the command
gets SIGTERM, then SIGKILL after the grace period.

Exit status:
  the command's own     it ran holding the lock throughout (128+N if signal N ended it)
  ${EXIT.notAcquired}                    not acquired: --try found it held, or --timeout passed (the command never ran)
  ${EXIT.lockLost}                    the lock was lost while the command ran (whatever the command returned)
  ${EXIT.failed}                     etcd unreachable, permission denied …; ${EXIT.usage}: bad arguments
A line on stderr (a JSON note with --json) says which; the command's status after a loss is in it.

Examples:
  $ ${PROGRAM} lock --ttl 30 jobs/nightly -- ./backup.sh --full
  $ ${PROGRAM} lock --try jobs/nightly -- ./backup.sh || echo "already running"
  $ ${PROGRAM} lock --timeout 60 jobs/nightly -- ./backup.sh`,
    )
    .action(async (name: string, command: string[], options: LockOptions, cmd: Command) => {
      if (options.grace !== undefined && options.grace >= options.ttl) {
        cmd.error(`--grace (${options.grace} s) must be shorter than --ttl (${options.ttl} s)`, {
          code: 'etcd-concurrency.grace',
          exitCode: 2,
        });
      }
      await run(() => lockCommand(name, command, options, cmd.optsWithGlobals<GlobalOptions>()));
    });

  program
    .command('elect')
    .description(
      'Campaign to lead an election (etcdctl elect compatible), print leadership changes, resign on Ctrl-C',
    )
    .argument('<name>', 'election name; keys live under <name>/ as with etcdctl and Go')
    .argument('<proposal>', 'the value to lead with (what observers see)')
    .addOption(
      new Option('--ttl <seconds>', 'session TTL: how long a crashed leader keeps the leadership')
        .default(10)
        .argParser(positiveInteger),
    )
    .action(async (name: string, proposal: string, options: { ttl: number }, cmd: Command) => {
      await run(() => electCommand(name, proposal, options, cmd.optsWithGlobals<GlobalOptions>()));
    });

  program
    .command('observe')
    .description('Print the leader of an election, then every change, until Ctrl-C (etcdctl elect -l)')
    .argument('<name>', 'election name')
    .action(async (name: string, _options: unknown, cmd: Command) => {
      await run(() => observeCommand(name, cmd.optsWithGlobals<GlobalOptions>()));
    });

  program
    .command('status')
    .description('List locks, elections and semaphores with their holders, waiters, leases and TTLs')
    .argument('[prefix]', 'only keys under this prefix (default: all keys)', '')
    .addHelpText(
      'after',
      `
For each lock or election (one key layout: name/<lease in hex>), RWMutex (name/read/…,
name/write/…) and semaphore (name/<lease in hex>/…, permits in the key name): the holder or
leader first, then the waiters in queue order, each with its lease, the TTL left, its age (in
revisions: etcd keeps no clock times) and its value. --json prints one object, bigints as strings.

Examples:
  $ ${PROGRAM} status jobs/
  $ ${PROGRAM} status --json | jq '.primitives[] | select(.contenders | length > 1)'`,
    )
    .action(async (prefix: string, _options: unknown, cmd: Command) => {
      await run(() => statusCommand(prefix, cmd.optsWithGlobals<GlobalOptions>()));
    });

  program
    .command('bench', { hidden: !benchCanRun() })
    .description(
      'Run the contention benchmark (from a clone of the repository; starts its own etcd unless --endpoints/ETCD_ENDPOINTS)',
    )
    .option('--quick', 'every case briefly, for a smoke run')
    .option('--duration <seconds>', 'seconds per case (default 3)')
    .option('--repeat <k>', 'interleaved passes, median run per case (steadier numbers)')
    .option('--only <ids>', 'only the cases whose id contains one of these (comma separated)')
    .option('--clients <own|shared>', 'only the cases with a client per contender (own) or one shared client')
    .option('--skip-go', "leave out Go's concurrency.Mutex (built on first use from Debian's packages)")
    .option('--out <dir>', 'where to write the report')
    .option('--list', 'print the case ids and exit')
    .action(async (options: BenchOptions, cmd: Command) => {
      await run(() => benchCommand(options, cmd.optsWithGlobals<GlobalOptions>()));
    });

  return program;
}

/** Usage errors as one line named after the program, as Unix tools report them. */
function oneLineErrors(hint: string) {
  return {
    outputError: (message: string, write: (text: string) => void) => {
      write(`${PROGRAM}: ${message.replace(/^error: /, '').trimEnd()} (${hint})\n`);
    },
  };
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError('expected a positive whole number of seconds');
  }
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError('expected a positive number of seconds');
  }
  return n;
}

/**
 * Whether `bench` can run here: it needs the source repository's bench/ and tsx, which the npm
 * package does not ship, so there it is left out of --help (running it still says why not).
 */
function benchCanRun(): boolean {
  if (!existsSync(new URL('../../bench/main.ts', import.meta.url))) return false;
  try {
    import.meta.resolve('tsx');
    return true;
  } catch {
    return false;
  }
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
