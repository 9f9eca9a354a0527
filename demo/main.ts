/**
 * `npm run demo [-- --quick] [--prefix <keys/>]`: distributed locking, leader election and a
 * semaphore, played by worker processes against etcd — ETCD_ENDPOINTS, or an embedded etcd (the
 * tests' harness: free loopback ports, a temp dir) when unset. Ends by itself in 15-25 s
 * (`--quick`: about 12 s), prints a summary, and leaves no process, key or temp dir behind, also
 * on Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { createClient } from '../src/index.js';
import { startDemoEtcd, type DemoEtcd } from './etcd.js';
import { electionPhase, type ElectionResult } from './phases/election.js';
import { mutexPhase, type MutexResult } from './phases/mutex.js';
import { semaphorePhase, type SemaphoreResult } from './phases/semaphore.js';
import { bad, bold, dim, good } from './timeline.js';
import { killAll, startedPids, stopAll } from './workers.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    prefix: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (values.help) {
  console.log(`usage: npm run demo [-- --quick] [--prefix <key prefix>]
  --quick           fewer rounds (about 12 s instead of 20 s)
  --prefix <p>      where the demo's keys live (default etcd-concurrency-demo/<random>/); removed at the end
ETCD_ENDPOINTS=host:port,… uses that etcd; unset, the demo starts an embedded one and stops it at the end.`);
  process.exit(0);
}

export interface Context {
  client: Etcd3;
  endpoints: string;
  prefix: string;
  quick: boolean;
  /** Aborted on Ctrl-C: every wait of the phases gives up. */
  signal: AbortSignal;
}

const interrupt = new AbortController();
const onInterrupt = (signal: NodeJS.Signals) => {
  if (interrupt.signal.aborted) return;
  console.log(
    `\n${bold(signal === 'SIGINT' ? 'Ctrl-C' : signal)}: stopping the workers, removing the keys, stopping etcd…`,
  );
  interrupt.abort(new Error(`interrupted by ${signal}`));
};
process.on('SIGINT', onInterrupt);
process.on('SIGTERM', onInterrupt);
process.on('exit', killAll);

const prefix = values.prefix ?? `etcd-concurrency-demo/${randomBytes(4).toString('hex')}/`;
const quick = values.quick;
const began = Date.now();

console.log(bold('etcd-concurrency demo'));
let etcd: DemoEtcd | undefined;
let client: Etcd3 | undefined;
let failed = false;
let results: { mutex?: MutexResult; election?: ElectionResult; semaphore?: SemaphoreResult } = {};
try {
  etcd = await startDemoEtcd();
  console.log(`  etcd:  ${etcd.description}`);
  console.log(`  keys:  under ${prefix}\n`);
  client = createClient({ endpoints: etcd.endpoints });
  const ctx: Context = {
    client,
    endpoints: etcd.endpoints.join(','),
    prefix,
    quick,
    signal: interrupt.signal,
  };
  results = { mutex: await mutexPhase(ctx) };
  results = { ...results, election: await electionPhase(ctx) };
  results = { ...results, semaphore: await semaphorePhase(ctx) };
} catch (err) {
  failed = true;
  if (!interrupt.signal.aborted) {
    console.error(`${bad('demo failed:')} ${err instanceof Error ? err.message : String(err)}`);
  }
} finally {
  await stopAll();
  let keysLeft: number | undefined;
  if (client) {
    try {
      await client.delete().prefix(prefix);
      keysLeft = await client.getAll().prefix(prefix).count();
    } catch {
      keysLeft = undefined;
    }
    client.close();
  }
  await etcd?.stop();
  if (!interrupt.signal.aborted) printSummary(keysLeft);
  else {
    // An embedded etcd shares the terminal's Ctrl-C and stops at once: its data dir goes instead.
    const keys = etcd?.embedded
      ? `embedded etcd stopped, ${etcd.dataDir ?? 'its temp dir'} removed`
      : keysLeft === 0
        ? `no keys left under ${prefix}`
        : `could not remove the keys under ${prefix}`;
    console.log(`cleaned up: workers stopped; ${keys}`);
  }
}
process.exitCode = interrupt.signal.aborted ? 130 : failed || !allOk() ? 1 : 0;

function allOk(): boolean {
  const { mutex, election, semaphore } = results;
  return mutex?.ok === true && election?.ok === true && semaphore?.ok === true;
}

function printSummary(keysLeft: number | undefined): void {
  const { mutex, election, semaphore } = results;
  const mark = (ok: boolean | undefined) => (ok ? good('✓') : bad('✗'));
  console.log(`\n${bold('Summary')} ${dim(`(${((Date.now() - began) / 1000).toFixed(1)} s)`)}`);
  if (mutex) console.log(`  ${mark(mutex.ok)} mutex:     ${mutex.summary}`);
  if (election) console.log(`  ${mark(election.ok)} election:  ${election.summary}`);
  if (semaphore) console.log(`  ${mark(semaphore.ok)} semaphore: ${semaphore.summary}`);
  const pids = startedPids();
  console.log(
    `  ${mark(keysLeft === 0)} cleanup:   ${keysLeft === undefined ? 'could not check the keys' : `${keysLeft} keys left under ${prefix}`}; ` +
      `${pids.length} worker processes, all exited (pids ${pids.join(' ')})` +
      (etcd?.embedded ? `; embedded etcd stopped, ${etcd.dataDir} removed` : ''),
  );
}
