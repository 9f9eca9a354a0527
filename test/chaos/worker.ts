/**
 * A chaos worker: one OS process with its own etcd client and Session, looping
 *
 *   acquire (Mutex.lock / Election.campaign / Semaphore.acquire)
 *   → read the register → think → guarded write stamped with the fencing token → release
 *
 * and logging every step as one JSON line on stdout (see {@link WorkerEvent}). Stdout is a pipe,
 * which Node writes synchronously on Linux, so a SIGKILL loses no line already written.
 *
 * The worker never checks `hold.signal` before writing: it behaves like a process that was paused
 * at the worst moment, so that only etcd's compare in `hold.txn()` stands between it and a stale
 * write. With `unguarded` it writes with a plain put instead: the negative control.
 *
 * Run: `node --import tsx test/chaos/worker.ts '<WorkerConfig as JSON>'`. It stops by itself after
 * `ops` cycles or at `deadline`, closes its session (revoking its lease) and exits; a hard cap
 * ends it 20 s after the deadline whatever happens.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3, IRequestOp } from 'etcd3';
import {
  createClient,
  DoubleBarrier,
  Election,
  Mutex,
  RWMutex,
  Semaphore,
  Session,
  type Hold,
} from '../../src/index.js';
import { blockEventLoop } from '../support/pause.js';
import type { WorkerConfig, WorkerEvent } from './types.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

const HARD_CAP_AFTER_DEADLINE_MS = 20_000;
const EXIT_GRACE_MS = 5_000;

const cfg = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const now = (): number => performance.timeOrigin + performance.now();

function log(event: DistributiveOmit<WorkerEvent, 'w' | 't'>): void {
  process.stdout.write(`${JSON.stringify({ w: cfg.id, t: now(), ...event })}\n`);
}

function describe(err: unknown): { name: string; message: string } {
  if (err instanceof Error) return { name: err.name, message: err.message.slice(0, 300) };
  return { name: typeof err, message: String(err).slice(0, 300) };
}

// The parent is gone (its end of the pipe closed): nobody records us any more.
process.stdout.on('error', () => process.exit(2));
process.on('unhandledRejection', (err) => {
  log({ ev: 'error', step: 'unhandled-rejection', ...describe(err) });
});

const stopAt = AbortSignal.timeout(Math.max(0, cfg.deadline - Date.now()));
setTimeout(
  () => {
    log({
      ev: 'error',
      step: 'hard-cap',
      name: 'HardCap',
      message: 'worker still running 20 s after deadline',
    });
    process.exit(3);
  },
  Math.max(0, cfg.deadline - Date.now()) + HARD_CAP_AFTER_DEADLINE_MS,
).unref();

// The runner's stand-in for a GC pause: the whole event loop stops, this process cannot run.
process.on('SIGUSR2', () => {
  const ms = cfg.blockMs ?? 0;
  log({ ev: 'blocked', ms });
  blockEventLoop(ms);
});

const client: Etcd3 = createClient({
  endpoints: cfg.endpoints,
  ...(cfg.callTimeoutMs !== undefined ? { callTimeoutMs: cfg.callTimeoutMs } : {}),
});

interface Contender {
  session: Session;
  acquire(signal: AbortSignal): Promise<Hold>;
}

let current: Contender | undefined;

async function contender(): Promise<Contender> {
  if (current?.session.isActive) return current;
  const session = await Session.create(client, { ttl: cfg.ttl, signal: stopAt });
  log({ ev: 'session', lease: session.leaseId, ttl: session.ttl });
  session.signal.addEventListener(
    'abort',
    () => {
      log({ ev: 'session-end', lease: session.leaseId, reason: describe(session.signal.reason).name });
    },
    { once: true },
  );
  current = { session, acquire: acquirer(session) };
  return current;
}

function acquirer(session: Session): (signal: AbortSignal) => Promise<Hold> {
  switch (cfg.kind) {
    case 'mutex': {
      const mutex = new Mutex(session, cfg.name, { value: cfg.id });
      return (signal) => mutex.lock({ signal });
    }
    case 'election': {
      const election = new Election(session, cfg.name);
      return (signal) => election.campaign(cfg.id, { signal });
    }
    case 'semaphore': {
      const semaphore = new Semaphore(session, cfg.name, { permits: cfg.permits ?? 1, value: cfg.id });
      return (signal) => semaphore.acquire({ signal, weight: cfg.weight ?? 1 });
    }
    case 'rwmutex': {
      const rw = new RWMutex(session, cfg.name, { value: cfg.id });
      return (signal) => (cfg.role === 'reader' ? rw.rLock({ signal }) : rw.lock({ signal }));
    }
    case 'barrier':
      // a DoubleBarrier participant has no hold: barrierCycle runs it instead
      return () => Promise.reject(new Error('a DoubleBarrier worker does not acquire'));
  }
}

const think = (): Promise<void> => {
  const [min, max] = cfg.thinkMs;
  return sleep(min + Math.random() * (max - min));
};

interface RegisterValue {
  count: number;
  token: string;
  writer: string;
  op: string;
}

/** Read-modify-write of the register: the count goes up by one, stamped with the token and op. */
async function registerCycle(hold: Hold, op: string, token: string): Promise<void> {
  const res = await client.get(cfg.register).exec();
  const kv = res.kvs[0];
  if (!kv) throw new Error(`register ${cfg.register} does not exist`);
  const seen = JSON.parse(kv.value.toString()) as RegisterValue;
  log({ ev: 'read', op, token, rev: res.header.revision, modRev: kv.mod_revision, count: seen.count });
  await think();
  const next: RegisterValue = { count: seen.count + 1, token, writer: cfg.id, op };
  await write(
    hold,
    op,
    token,
    'rmw',
    { request_put: { key: Buffer.from(cfg.register), value: json(next) } },
    [[cfg.register, kv.mod_revision]],
  );
}

/** RWMutex reader: read the register under the read hold; only writers write it. */
async function readerCycle(op: string, token: string): Promise<void> {
  const res = await client.get(cfg.register).exec();
  const kv = res.kvs[0];
  if (!kv) throw new Error(`register ${cfg.register} does not exist`);
  const seen = JSON.parse(kv.value.toString()) as RegisterValue;
  log({ ev: 'read', op, token, rev: res.header.revision, modRev: kv.mod_revision, count: seen.count });
  await think();
}

/**
 * DoubleBarrier: enter, look up the own key (its create revision and etcd's revision now, for
 * the checker's count check), think, leave. The leave gets its own time limit, not the run's
 * deadline: a participant that stops halfway would hold the others' leave() up.
 */
async function barrierCycle(c: Contender, n: number): Promise<boolean> {
  const op = `${cfg.id}#${n}`;
  const barrier = new DoubleBarrier(c.session, cfg.name, cfg.count ?? 2);
  // Arrivals spread out, so the first participants of a round really wait for the last.
  await sleep(Math.random() * 300);
  log({ ev: 'start', op, lease: c.session.leaseId });
  try {
    await barrier.enter({ signal: stopAt });
  } catch (err) {
    log({ ev: 'error', op, step: 'acquire', ...describe(err) });
    if (!stopAt.aborted) await sleep(100 + Math.random() * 200);
    return false;
  }
  const key = barrier.participantKey ?? '';
  const res = await client
    .get(key)
    .exec()
    .catch(() => undefined);
  const token = res?.kvs[0]?.create_revision ?? '';
  log({ ev: 'entered', op, key, token, rev: res?.header.revision ?? '0' });
  await think();
  // A leave() that gave up while this participant is still in must be called again (the API's
  // contract): walking away would leave its key in the next round.
  for (;;) {
    try {
      await barrier.leave({ signal: AbortSignal.timeout(cfg.ttl * 3000 + 5000) });
      const after = await client
        .get(key)
        .exec()
        .catch(() => undefined);
      log({ ev: 'left', op, token, rev: after?.header.revision ?? '0' });
      return true;
    } catch (err) {
      log({ ev: 'error', op, step: 'leave', ...describe(err) });
      if (barrier.participantKey === undefined || stopAt.aborted || !c.session.isActive) return false;
    }
  }
}

/** Semaphore: enter a slot (a key on our lease), think, leave it; both writes guarded. */
async function semaphoreCycle(hold: Hold, op: string, token: string, lease: string): Promise<void> {
  const slot = Buffer.from(`${cfg.register}${cfg.id}`);
  const record = { token, writer: cfg.id, op, weight: cfg.weight ?? 1 };
  await write(hold, op, token, 'enter', { request_put: { key: slot, value: json(record), lease } });
  await think();
  await write(hold, op, token, 'exit', { request_delete_range: { key: slot } });
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

async function write(
  hold: Hold,
  op: string,
  token: string,
  phase: 'rmw' | 'enter' | 'exit',
  request: IRequestOp,
  modRevisions: [string, string][] = [],
): Promise<void> {
  const signalAborted = hold.signal.aborted;
  try {
    if (cfg.unguarded) {
      const res = request.request_put
        ? await client.kv.put(request.request_put)
        : await client.kv.deleteRange(request.request_delete_range ?? {});
      log({ ev: 'write', op, token, phase, outcome: 'ok', rev: res.header.revision, signalAborted });
      return;
    }
    let txn = hold.txn();
    for (const [key, modRev] of modRevisions) txn = txn.and(key, 'Mod', '==', modRev);
    const res = await txn
      .then(request)
      .else({ request_range: { key: Buffer.from(hold.key) } })
      .commit();
    if (res.succeeded) {
      log({ ev: 'write', op, token, phase, outcome: 'ok', rev: res.header.revision, signalAborted });
    } else {
      const own = res.responses[0]?.response_range.kvs[0];
      log({
        ev: 'write',
        op,
        token,
        phase,
        outcome: 'failed',
        rev: res.header.revision,
        signalAborted,
        keyHeld: own?.create_revision === token,
      });
    }
  } catch (err) {
    const { name, message } = describe(err);
    log({ ev: 'write', op, token, phase, outcome: 'unknown', signalAborted, error: `${name}: ${message}` });
  }
}

async function cycle(n: number): Promise<boolean> {
  let c: Contender;
  try {
    c = await contender();
  } catch (err) {
    if (stopAt.aborted) return false;
    log({ ev: 'error', step: 'session', ...describe(err) });
    await sleep(200);
    return false;
  }
  if (cfg.kind === 'barrier') return barrierCycle(c, n);
  const op = `${cfg.id}#${n}`;
  const lease = c.session.leaseId;
  log({ ev: 'start', op, lease });
  let hold: Hold;
  try {
    hold = await c.acquire(stopAt);
  } catch (err) {
    log({ ev: 'error', op, step: 'acquire', ...describe(err) });
    if (!stopAt.aborted) await sleep(100 + Math.random() * 200);
    return false;
  }
  const token = hold.fencingToken.toString();
  log({ ev: 'acquired', op, key: hold.key, token, lease });
  const onLost = () => {
    log({ ev: 'lost', op, token, reason: describe(hold.signal.reason).name });
  };
  if (hold.signal.aborted) onLost();
  else hold.signal.addEventListener('abort', onLost, { once: true });
  try {
    if (cfg.kind === 'semaphore') await semaphoreCycle(hold, op, token, lease);
    else if (cfg.kind === 'rwmutex' && cfg.role === 'reader') await readerCycle(op, token);
    else await registerCycle(hold, op, token);
  } catch (err) {
    log({ ev: 'error', op, step: 'rmw', ...describe(err) });
  } finally {
    log({ ev: 'releasing', op, token });
    try {
      await hold.release();
      log({ ev: 'released', op, token });
    } catch (err) {
      const { name, message } = describe(err);
      log({ ev: 'released', op, token, error: `${name}: ${message}` });
    }
    hold.signal.removeEventListener('abort', onLost);
  }
  return true;
}

async function main(): Promise<void> {
  log({ ev: 'boot', pid: process.pid });
  let completed = 0;
  let attempts = 0;
  while (completed < cfg.ops && !stopAt.aborted) {
    if (await cycle(++attempts)) completed++;
  }
  const session = current?.session;
  if (session?.isActive) {
    try {
      await session.close();
    } catch (err) {
      log({ ev: 'error', step: 'close', ...describe(err) });
      session.orphan();
    }
  }
  client.close();
  log({ ev: 'exit', completed, reason: completed >= cfg.ops ? 'ops' : 'deadline' });
  // The process must now end by itself: anything still open is a handle the library leaked.
  setTimeout(() => {
    log({
      ev: 'error',
      step: 'exit',
      name: 'OpenHandles',
      message: `process still alive ${EXIT_GRACE_MS} ms after closing its session and client`,
    });
    process.exit(4);
  }, EXIT_GRACE_MS).unref();
}

main().catch((err: unknown) => {
  log({ ev: 'error', step: 'main', ...describe(err) });
  process.exit(1);
});
