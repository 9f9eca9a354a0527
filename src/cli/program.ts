import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { benchCommand, type BenchOptions } from './bench.js';
import { addGlobalOptions, type GlobalOptions } from './connection.js';
import { electCommand } from './elect.js';
import { lockCommand } from './lock.js';
import { observeCommand } from './observe.js';
import { PROGRAM } from './output.js';

/** Sets the process' exit status from a command's result. */
export type Run = (command: () => Promise<number>) => Promise<void>;

/** The command-line program: `lock`, `elect`, `observe`, `bench`, with etcdctl's global flags. */
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
  $ ${PROGRAM} --endpoints 10.0.0.1:2379 observe election/web --json`,
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
    .addHelpText(
      'after',
      `
The command gets ETCD_LOCK_KEY (the lock's key) and ETCD_LOCK_REV (its create revision: a fencing
token that grows with every new holder). The exit status is the command's (128+N if it died of
signal N). SIGINT, SIGTERM and SIGHUP are forwarded to the command; the lock is released when it
exits. If the lock is lost (lease expired, key deleted), the command gets SIGTERM, then SIGKILL
after the grace period, and the exit status is non-zero.

Example:
  $ ${PROGRAM} lock --ttl 30 jobs/nightly -- ./backup.sh --full`,
    )
    .action(
      async (name: string, command: string[], options: { ttl: number; grace?: number }, cmd: Command) => {
        if (options.grace !== undefined && options.grace >= options.ttl) {
          cmd.error(`--grace (${options.grace} s) must be shorter than --ttl (${options.ttl} s)`, {
            code: 'etcd-concurrency.grace',
            exitCode: 2,
          });
        }
        await run(() => lockCommand(name, command, options, cmd.optsWithGlobals<GlobalOptions>()));
      },
    );

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
    .command('bench')
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
