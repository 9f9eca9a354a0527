import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from '../errors.js';
import type { GlobalOptions } from './connection.js';
import { onStopSignal, signalExitCode } from './signals.js';

export interface BenchOptions {
  quick?: boolean;
  duration?: string;
  repeat?: string;
  only?: string;
  clients?: string;
  skipGo?: boolean;
  out?: string;
  list?: boolean;
}

/** The repository root, seen from src/cli (tsx) and from dist/cli (built) alike. */
const ROOT = new URL('../../', import.meta.url);

/**
 * `etcd-concurrency bench`: runs the contention benchmark (`bench/main.ts`, as `npm run bench`)
 * in a child process and returns its exit status. The benchmark lives in the source repository,
 * not in the published package, and runs TypeScript through tsx, a dev dependency.
 */
export async function benchCommand(options: BenchOptions, globals: GlobalOptions): Promise<number> {
  const entry = fileURLToPath(new URL('bench/main.ts', ROOT));
  let tsx: string;
  try {
    tsx = import.meta.resolve('tsx');
  } catch {
    tsx = '';
  }
  if (!existsSync(entry) || tsx === '') {
    throw new InvalidArgumentError(
      'the benchmark ships with the source repository, not the npm package: ' +
        'clone the repository, run `npm install`, then `npx etcd-concurrency bench` or `npm run bench` there',
    );
  }
  const args = [
    ...(options.quick ? ['--quick'] : []),
    ...(options.duration !== undefined ? ['--duration', options.duration] : []),
    ...(options.repeat !== undefined ? ['--repeat', options.repeat] : []),
    ...(options.only !== undefined ? ['--only', options.only] : []),
    ...(options.clients !== undefined ? ['--clients', options.clients] : []),
    ...(options.skipGo ? ['--skip-go'] : []),
    ...(options.out !== undefined ? ['--out', options.out] : []),
    ...(options.list ? ['--list'] : []),
    ...(globals.json ? ['--json'] : []),
  ];
  // The bench reads its etcd from ETCD_ENDPOINTS (or starts a private one when unset).
  const env =
    globals.endpoints === undefined ? process.env : { ...process.env, ETCD_ENDPOINTS: globals.endpoints };
  const child = spawn(process.execPath, ['--import', tsx, entry, ...args], { stdio: 'inherit', env });
  const offSignals = onStopSignal((signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        resolve(signal !== null ? signalExitCode(signal) : (code ?? 1));
      });
    });
  } finally {
    offSignals();
  }
}
