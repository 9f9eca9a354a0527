#!/usr/bin/env node
/**
 * The `etcd-concurrency` command: `lock`, `elect`, `observe`, `status` and `bench` (see
 * `--help`). Exit statuses: see `exit-codes.ts` (0, 1, 2, and `lock`'s 75 and 76, else the
 * command's own for `lock -- command`).
 */
import { CommanderError } from 'commander';
import { printError } from './output.js';
import { createProgram } from './program.js';

// Deprecation notices are for the library's developers, not for someone running a command
// (grpc-js triggers DEP0123 on every TLS connection to an IP address).
process.noDeprecation = true;

/** How long cleanup may linger after the command finished before the process exits anyway. */
const EXIT_GRACE_MS = 3000;

// Known before parsing, so that even a failure to parse options is reported in the chosen format.
const json = process.argv.slice(2, argsEnd(process.argv)).includes('--json');

const program = createProgram(async (command) => {
  try {
    process.exitCode = await command();
  } catch (err) {
    printError(err, json);
    process.exitCode = 1;
  }
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander printed the message or the help already
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    printError(err, json);
    process.exitCode = 1;
  }
}
// A client or child that does not let go must not keep a finished command alive.
setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();

function argsEnd(argv: string[]): number {
  const end = argv.indexOf('--');
  return end < 0 ? argv.length : end;
}
