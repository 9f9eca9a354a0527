/**
 * The two transactions of one uncontended Mutex cycle (enqueue: create-if-absent + probe; release:
 * guarded delete), run in a row by several paths against one private etcd, interleaved in rounds
 * in random order: client CPU per cycle, etcd CPU per cycle and cycles/s of each path, with their
 * ratios to etcd3's `client.kv.txn`. Medians over the rounds; one etcd, short interleaved rounds,
 * so the ratios hold on a shared machine where absolute numbers do not.
 *
 *   node --import tsx bench/micro/txn-paths.ts [ms per round] [rounds] [path,…]
 *
 * Paths: `etcd3` (client.kv.txn), `lean` (src/etcd/txn.ts), `proto-client` (etcd3's cached grpc-js
 * KV client called directly: proto-loader's codec without etcd3's pool), `mutex-etcd3` and
 * `mutex-lean` (the whole Mutex: lock({ signal }) + release(), with txn() on either path), `go`
 * (Go's concurrency.Mutex, the bench's Go contender: its own process, its own CPU).
 */
import { readFileSync } from 'node:fs';
import { Metadata } from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { startEtcd } from '../../src/testing.js';
import { prefixRangeEnd } from '../../src/etcd/kv.js';
import { txn, type TxnRequest, useEtcd3Txn } from '../../src/etcd/txn.js';
import { toEtcd3Request } from '../../src/etcd/txn-etcd3.js';
import { createClient, Mutex, Session } from '../lib.js';
import { goContender } from '../go/build.js';
import { GoProcess } from '../go/process.js';
import { now } from '../clock.js';

const roundMs = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 8);
const only = process.argv[4]?.split(',');
process.env.TMPDIR = '/dev/shm';
await using etcd = await startEtcd();
const etcdPid = etcd.members[0]!.pid!;

const made: { client: Etcd3; session: Session }[] = [];

/** A client of its own per path: nothing one path caches helps another. */
async function contender(name: string, lean: boolean) {
  const client = createClient({ endpoints: etcd.endpoints });
  if (!lean) useEtcd3Txn(client);
  const session = await Session.create(client, { ttl: 60 });
  made.push({ client, session });
  const prefix = `micro/${name}/`;
  const key = Buffer.from(`${prefix}${BigInt(session.leaseId).toString(16)}`);
  return { client, session, prefix, key };
}

type Contender = Awaited<ReturnType<typeof contender>>;
type Cycle = () => Promise<void>;
/** Runs cycles for `ms`: how many, and the CPU they cost (ms; the Go contender reports its own). */
type Runner = (ms: number) => Promise<{ cycles: number; cpuMs: number }>;

function inProcess(cycle: Cycle): Runner {
  return async (ms) => {
    const cpu0 = process.cpuUsage();
    const until = performance.now() + ms;
    let cycles = 0;
    while (performance.now() < until) {
      await cycle();
      cycles++;
    }
    const cpu = process.cpuUsage(cpu0);
    return { cycles, cpuMs: (cpu.user + cpu.system) / 1000 };
  };
}

const goProcesses: GoProcess[] = [];

/** Go's concurrency.Mutex on one name, in the bench's Go contender process. */
async function goRunner(): Promise<Runner> {
  const build = await goContender(() => undefined);
  if (!('binary' in build)) throw new Error(`no Go contender: ${build.unavailable}`);
  const go = new GoProcess(build.binary, {
    endpoints: etcd.endpoints,
    name: 'micro/go/lock',
    n: 1,
    who: 'g',
    ttl: 60,
    mode: 'lock',
  });
  goProcesses.push(go);
  await go.ready(30_000);
  return async (ms) => {
    const report = await go.go(now() + ms, ms + 10_000);
    return { cycles: report.waits.filter((w) => w.released !== undefined).length, cpuMs: report.cpuMs };
  };
}

function enqueueTxn(c: Contender): TxnRequest {
  const probe = {
    kind: 'range',
    key: Buffer.from(c.prefix),
    rangeEnd: prefixRangeEnd(c.prefix),
    sortTarget: 'Create',
    sortOrder: 'Ascend',
    limit: 1n,
  } as const;
  return {
    compare: [{ key: c.key, target: 'Create', result: 'Equal', operand: 0n }],
    success: [{ kind: 'put', key: c.key, value: Buffer.from('me'), lease: BigInt(c.session.leaseId) }, probe],
    failure: [{ kind: 'range', key: c.key }, probe],
  };
}

function releaseTxn(c: Contender, rev: bigint): TxnRequest {
  return {
    compare: [{ key: c.key, target: 'Create', result: 'Equal', operand: rev }],
    success: [{ kind: 'deleteRange', key: c.key }],
    failure: [],
  };
}

/** txn() (lean, or etcd3's when the contender was made with lean = false). */
function txnCycle(c: Contender): Cycle {
  return async () => {
    const res = await txn(c.client, enqueueTxn(c));
    await txn(c.client, releaseTxn(c, res.revision));
  };
}

/** etcd3's `client.kv.txn` with the etcd3-shaped request, conversions as before the lean path. */
function etcd3Cycle(c: Contender): Cycle {
  return async () => {
    const res = await c.client.kv.txn(toEtcd3Request(enqueueTxn(c)));
    await c.client.kv.txn(toEtcd3Request(releaseTxn(c, BigInt(res.header.revision))));
  };
}

/** etcd3's cached grpc-js client for KV, called directly: proto-loader's codec, no pool. */
function protoClientCycle(c: Contender): Cycle {
  type Callback = (err: Error | null, res?: { header: { revision: string } }) => void;
  const pool = (
    c.client as unknown as {
      pool: {
        hosts: {
          getServiceClient(name: 'KV'): { txn(req: unknown, m: Metadata, o: object, cb: Callback): void };
        }[];
      };
    }
  ).pool;
  const kv = pool.hosts[0]!.getServiceClient('KV');
  const metadata = new Metadata();
  const call = (req: TxnRequest) =>
    new Promise<{ header: { revision: string } }>((resolve, reject) => {
      kv.txn(toEtcd3Request(req), metadata, { deadline: Date.now() + 5000 }, (err, res) =>
        err ? reject(err) : resolve(res!),
      );
    });
  return async () => {
    const res = await call(enqueueTxn(c));
    await call(releaseTxn(c, BigInt(res.header.revision)));
  };
}

/** The whole Mutex, as the bench's contender drives it (with the case's stop signal). */
function mutexCycle(c: Contender): Cycle {
  const mutex = new Mutex(c.session, `${c.prefix}lock`, { value: 'me' });
  const stop = new AbortController();
  return async () => {
    const hold = await mutex.lock({ signal: stop.signal });
    await hold.release();
  };
}

const makers: Record<string, () => Promise<Runner>> = {
  etcd3: async () => inProcess(etcd3Cycle(await contender('etcd3', false))),
  lean: async () => inProcess(txnCycle(await contender('lean', true))),
  'proto-client': async () => inProcess(protoClientCycle(await contender('proto', false))),
  'mutex-etcd3': async () => inProcess(mutexCycle(await contender('mutex-etcd3', false))),
  'mutex-lean': async () => inProcess(mutexCycle(await contender('mutex-lean', true))),
  go: goRunner,
};
const names = Object.keys(makers).filter((n) => n === 'etcd3' || !only || only.includes(n));
const runners: Record<string, Runner> = {};
for (const name of names) runners[name] = await makers[name]!();

function etcdCpuMs(): number {
  const fields = readFileSync(`/proc/${etcdPid}/stat`, 'utf8').replace(/.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, 100 ticks/s
}

const samples: Record<string, { cpu: number[]; etcd: number[]; rate: number[] }> = {};
for (const name of names) {
  samples[name] = { cpu: [], etcd: [], rate: [] };
  await runners[name]!(500); // warm-up: JIT, connections
}
for (let r = 0; r < rounds; r++) {
  for (const name of [...names].sort(() => Math.random() - 0.5)) {
    const etcd0 = etcdCpuMs();
    const t0 = performance.now();
    const { cycles, cpuMs } = await runners[name]!(roundMs);
    const ms = performance.now() - t0;
    samples[name]!.cpu.push(cpuMs / cycles);
    samples[name]!.etcd.push((etcdCpuMs() - etcd0) / cycles);
    samples[name]!.rate.push(cycles / (ms / 1000));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = samples.etcd3!;
const cell = (v: number, b: number, digits: number) =>
  `${v.toFixed(digits)} (${(v / b).toFixed(2)}×)`.padEnd(16);
process.stdout.write(
  `${rounds} rounds × ${roundMs} ms per path, cycles of 2 RPCs, medians, ratios to etcd3\n`,
);
process.stdout.write(
  `${'path'.padEnd(14)}${'client ms/cycle'.padEnd(16)}${'etcd ms/cycle'.padEnd(16)}cycles/s\n`,
);
for (const name of names) {
  const s = samples[name]!;
  process.stdout.write(
    name.padEnd(14) +
      cell(median(s.cpu), median(base.cpu), 3) +
      cell(median(s.etcd), median(base.etcd), 3) +
      cell(median(s.rate), median(base.rate), 0) +
      '\n',
  );
}
for (const go of goProcesses) await go.quit();
for (const { client, session } of made) {
  await session.close();
  client.close();
}
