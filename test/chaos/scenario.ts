/**
 * The runner: one scenario against a running 3-member cluster. It writes the register, starts the
 * worker processes, injects the scenario's faults while they run, waits for them to stop by
 * themselves, waits for killed workers' leases to expire, replays etcd's history and hands
 * everything to the checker. Usable from vitest and from the `test:chaos` CLI (no vitest import).
 *
 * Processes are only ever signalled by PID; every worker still alive when this process exits is
 * SIGKILLed from an 'exit' hook, and each worker also ends itself 20 s after its deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Etcd3 } from 'etcd3';
import { createClient } from '../../src/etcd/client.js';
import type { EtcdCluster, EtcdMember } from '../support/etcd-cluster.js';
import { startMemberProxies, type MemberProxies } from '../support/proxy.js';
import { check } from './checker.js';
import { replayHistory, startRevisionClock } from './history.js';
import type {
  FaultKind,
  FaultRecord,
  Millis,
  PrimitiveKind,
  ScenarioReport,
  WorkerConfig,
  WorkerEvent,
} from './types.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WORKER_SCRIPT = path.join(REPO_ROOT, 'test/chaos/worker.ts');
/** How long after their deadline workers may take to exit before they count as hung. */
const EXIT_GRACE_MS = 15_000;

const now = (): Millis => performance.timeOrigin + performance.now();

export interface FaultSpec {
  kind: FaultKind;
  /** how many times to inject it */
  count: number;
  /** pause between the first acquisition (or the previous fault's end) and the next fault */
  everyMs?: number;
  /** member faults: how long the member stays down (default 1500 ms) */
  downMs?: number;
  /** pause-holder, pause-waiter, block-waiter: how long the worker stays stopped (default TTL + 2 s) */
  pauseMs?: number;
  /** lose-replies: how long the replies stay blackholed once the first one is lost (default 2 s) */
  windowMs?: number;
  /**
   * lose-replies, reset-connections: whom to hit. `waiter`: a worker that just started an attempt
   * (its enqueue, or its wait); `holder`: one that holds and thinks, so its guarded write, its
   * release and its next enqueue fall in the window; `releasing`: one that just sent its release,
   * so its next request is, most of the time, the next attempt's enqueue. Default `holder`.
   */
  target?: 'waiter' | 'holder' | 'releasing';
}

export interface ScenarioSpec {
  /** `primitive/fault`, e.g. `mutex/pause-holder` */
  name: string;
  kind: PrimitiveKind;
  workers: number;
  /** cycles per worker; the worker stops after them or at the time limit */
  opsPerWorker: number;
  timeLimitMs: number;
  /** session TTL, seconds */
  ttl: number;
  thinkMs: [number, number];
  unguarded?: boolean;
  permits?: number;
  /** semaphore: weight per worker, cycled */
  weights?: number[];
  /** RWMutex: role per worker, cycled */
  roles?: ('reader' | 'writer')[];
  /** DoubleBarrier: participants per round */
  count?: number;
  /** each worker talks to etcd through its own proxies (one per member): needed by network faults */
  proxied?: boolean;
  /** the workers' deadline per unary call */
  callTimeoutMs?: number;
  fault?: FaultSpec;
  /** worker i talks only to member i % members (so a member restart cuts its clients off) */
  pinEndpoints?: boolean;
}

export interface RunOptions {
  cluster: EtcdCluster;
  /** write events.jsonl, history.jsonl and report.json under `<dir>/<scenario>/` */
  artifactsDir?: string;
  /** progress lines (default: none) */
  log?: (line: string) => void;
}

// ---------------------------------------------------------------------------------------------------------
// worker processes

const liveWorkers = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveWorkers) {
      if (child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
}

class WorkerProcess {
  readonly events: WorkerEvent[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';
  paused = false;
  exitCode: number | null | undefined;
  private readonly child: ChildProcess;

  constructor(
    readonly config: WorkerConfig,
    onEvent: (e: WorkerEvent) => void,
  ) {
    installExitHook();
    this.child = spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT, JSON.stringify(config)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    liveWorkers.add(this.child);
    const lines = createInterface({ input: this.child.stdout! });
    lines.on('line', (line) => {
      let e: WorkerEvent;
      try {
        e = JSON.parse(line) as WorkerEvent;
      } catch {
        this.stderr += `[stdout] ${line}\n`;
        return;
      }
      this.events.push(e);
      onEvent(e);
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 64_000) this.stderr += chunk.toString();
    });
    const lineEnd = new Promise<void>((resolve) => lines.once('close', resolve));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        liveWorkers.delete(this.child);
        this.exitCode = code;
        // every line written before the exit is in the pipe: read them all before reporting
        void lineEnd.then(() => resolve(code));
      });
    });
  }

  get id(): string {
    return this.config.id;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  signal(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined || !this.alive) return;
    try {
      process.kill(pid, sig);
    } catch {
      // exited meanwhile
    }
    if (sig === 'SIGSTOP') this.paused = true;
    if (sig === 'SIGCONT') this.paused = false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// the run

/** A run's state as the fault injector sees it. */
class Run {
  readonly workers = new Map<string, WorkerProcess>();
  readonly faults: FaultRecord[] = [];
  readonly killed = new Set<string>();
  readonly waiting = new Set<string>();
  /** a proxied worker's proxies, by worker id */
  readonly proxies = new Map<string, MemberProxies>();
  done = false;
  private listeners = new Set<(e: WorkerEvent) => void>();
  private replacements = 0;

  constructor(
    readonly spec: ScenarioSpec,
    readonly cluster: EtcdCluster,
    readonly base: Omit<WorkerConfig, 'id' | 'endpoints' | 'weight'>,
  ) {}

  async spawn(index: number, id: string): Promise<WorkerProcess> {
    let endpoints = this.spec.pinEndpoints
      ? [this.cluster.endpoints[index % this.cluster.endpoints.length]!]
      : this.cluster.endpoints;
    if (this.spec.proxied) {
      const proxies = await startMemberProxies(endpoints);
      this.proxies.set(id, proxies);
      endpoints = proxies.endpoints;
    }
    const weights = this.spec.weights ?? [1];
    const roles = this.spec.roles;
    return this.start({
      ...this.base,
      id,
      endpoints,
      weight: weights[index % weights.length]!,
      ...(roles ? { role: roles[index % roles.length]! } : {}),
    });
  }

  /** A replacement for a killed worker: same endpoints and weight, a new identity and session. */
  respawn(victim: WorkerProcess): WorkerProcess {
    return this.start({ ...victim.config, id: `${victim.id.replace(/r\d+$/, '')}r${++this.replacements}` });
  }

  private start(config: WorkerConfig): WorkerProcess {
    const id = config.id;
    const worker = new WorkerProcess(config, (e) => {
      this.track(e);
    });
    this.workers.set(id, worker);
    return worker;
  }

  private track(e: WorkerEvent): void {
    if (e.ev === 'start') this.waiting.add(e.w);
    if (
      e.ev === 'acquired' ||
      e.ev === 'entered' ||
      (e.ev === 'error' && e.step === 'acquire') ||
      e.ev === 'exit'
    )
      this.waiting.delete(e.w);
    for (const fn of this.listeners) fn(e);
  }

  /** Every worker started has logged an attempt, and some worker has acquired. */
  steady(): boolean {
    const all = [...this.workers.values()];
    return (
      all.every((w) => w.events.some((e) => e.ev === 'start')) &&
      all.some((w) => w.events.some((e) => e.ev === 'acquired' || e.ev === 'entered'))
    );
  }

  /** The next event matching `pred`, or undefined once the run is done or `timeoutMs` passed. */
  next(pred: (e: WorkerEvent) => boolean, timeoutMs: number): Promise<WorkerEvent | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      const poll = setInterval(() => {
        if (this.done) finish(undefined);
      }, 100);
      const listener = (e: WorkerEvent) => {
        if (pred(e)) finish(e);
      };
      const finish = (e: WorkerEvent | undefined) => {
        clearTimeout(timer);
        clearInterval(poll);
        this.listeners.delete(listener);
        resolve(e);
      };
      this.listeners.add(listener);
    });
  }

  async pause(ms: number): Promise<void> {
    const until = now() + ms;
    while (!this.done && now() < until) await sleep(Math.min(100, until - now()));
  }
}

/** The event after which a worker holds and has not written yet: where holder faults strike. */
function isHoldingMark(e: WorkerEvent, kind: PrimitiveKind): boolean {
  if (kind === 'semaphore') return e.ev === 'write' && e.phase === 'enter' && e.outcome === 'ok';
  if (kind === 'barrier') return e.ev === 'entered';
  return e.ev === 'read';
}

async function injectFaults(run: Run, log: (line: string) => void): Promise<void> {
  const fault = run.spec.fault;
  if (!fault) return;
  const ttlMs = run.spec.ttl * 1000;
  // Strike a steady state: every worker has its session and contends, and the lock has moved.
  const deadline = now() + 30_000;
  while (!run.done && now() < deadline && !run.steady()) await sleep(50);
  let effective = 0;
  for (let attempt = 0; effective < fault.count && attempt < fault.count + 3 && !run.done; attempt++) {
    await run.pause(fault.everyMs ?? 300);
    if (run.done) break;
    switch (fault.kind) {
      case 'kill-holder':
      case 'pause-holder': {
        const mark = await run.next((e) => {
          const w = run.workers.get(e.w);
          return isHoldingMark(e, run.spec.kind) && w !== undefined && w.alive && !w.paused;
        }, 30_000);
        const victim = mark ? run.workers.get(mark.w) : undefined;
        if (!mark || !victim || !('op' in mark)) break;
        const token = 'token' in mark ? mark.token : undefined;
        if (fault.kind === 'kill-holder') {
          victim.signal('SIGKILL');
          const record: FaultRecord = { kind: fault.kind, t: now(), worker: victim.id, op: mark.op, token };
          run.faults.push(record);
          run.killed.add(victim.id);
          log(`  fault: SIGKILL ${victim.id} holding token ${token}`);
          await victim.exited;
          run.respawn(victim);
          // let the lock pass on before the next fault
          await run.next((e) => e.ev === 'acquired' && e.w !== victim.id, ttlMs + 15_000);
        } else {
          const pauseMs = fault.pauseMs ?? ttlMs + 2000;
          victim.signal('SIGSTOP');
          const record: FaultRecord = { kind: fault.kind, t: now(), worker: victim.id, op: mark.op, token };
          run.faults.push(record);
          log(`  fault: SIGSTOP ${victim.id} holding token ${token} for ${pauseMs} ms`);
          await sleep(pauseMs);
          victim.signal('SIGCONT');
          record.healedAt = now();
          await run.next((e) => e.w === victim.id && (e.ev === 'released' || e.ev === 'exit'), 15_000);
          // SIGSTOP must land between the read and the write; on a loaded machine it can be late.
          const early = victim.events.find(
            (e) => e.ev === 'write' && e.op === mark.op && e.t > mark.t && e.t < record.t,
          );
          if (early) {
            record.note = 'missed: the write came before SIGSTOP; not counted';
            log(`  ${record.note}`);
            break;
          }
        }
        effective++;
        break;
      }
      case 'pause-waiter':
      case 'block-waiter': {
        if (await stallWaiter(run, fault, log)) effective++;
        break;
      }
      case 'lose-replies':
      case 'reset-connections': {
        if (await networkFault(run, fault, log)) effective++;
        break;
      }
      case 'kill-leader':
      case 'kill-follower':
      case 'restart-member-mid-wait': {
        const member = await pickMember(run, fault.kind);
        if (!member) break;
        const waiting = [...run.waiting].filter((w) => {
          const cfg = run.workers.get(w)?.config;
          return cfg !== undefined && (!run.spec.pinEndpoints || cfg.endpoints.includes(member.clientUrl));
        });
        const record: FaultRecord = { kind: fault.kind, t: now(), member: member.name, waiting };
        run.faults.push(record);
        log(`  fault: SIGKILL etcd ${member.name} (${fault.kind}), waiting: ${waiting.join(' ') || 'none'}`);
        await member.kill('SIGKILL');
        await sleep(fault.downMs ?? 1500);
        await member.start();
        record.healedAt = now();
        log(`  healed: ${member.name} restarted`);
        effective++;
        break;
      }
    }
  }
}

/** A worker that logged `start` and has not acquired since, alive and running. */
async function nextWaiter(
  run: Run,
  settleMs: number,
): Promise<{ worker: WorkerProcess; op: string } | undefined> {
  for (let tries = 0; tries < 20 && !run.done; tries++) {
    const start = await run.next((e) => {
      const w = run.workers.get(e.w);
      return e.ev === 'start' && w !== undefined && w.alive && !w.paused;
    }, 30_000);
    if (!start || start.ev !== 'start') return undefined;
    // Give it the time to enqueue; it must still be waiting then (not granted at once).
    await sleep(settleMs);
    const worker = run.workers.get(start.w);
    if (worker?.alive && !worker.paused && run.waiting.has(start.w)) {
      const last = [...worker.events].reverse().find((e) => e.ev === 'start');
      if (last?.ev === 'start' && last.op === start.op) return { worker, op: start.op };
    }
  }
  return undefined;
}

/**
 * Stalls a waiting worker past its TTL: SIGSTOP of the whole process, or (block-waiter) SIGUSR2,
 * on which it blocks its own event loop. Its lease expires while it waits; on waking it must
 * learn that its session died, never that it acquired.
 */
async function stallWaiter(run: Run, fault: FaultSpec, log: (line: string) => void): Promise<boolean> {
  const pauseMs = fault.pauseMs ?? run.spec.ttl * 1000 + 2000;
  // A barrier's participants wait only until the last one of the round arrives: strike sooner.
  const found = await nextWaiter(run, run.spec.kind === 'barrier' ? 20 : 150);
  if (!found) return false;
  const { worker, op } = found;
  const record: FaultRecord = { kind: fault.kind, t: now(), worker: worker.id, op };
  run.faults.push(record);
  if (fault.kind === 'pause-waiter') {
    worker.signal('SIGSTOP');
    log(`  fault: SIGSTOP waiting ${worker.id} (${op}) for ${pauseMs} ms`);
    await sleep(pauseMs);
    worker.signal('SIGCONT');
  } else {
    log(`  fault: ${worker.id} (${op}) blocks its event loop for ${pauseMs} ms while waiting`);
    worker.signal('SIGUSR2');
    await sleep(pauseMs);
  }
  record.healedAt = now();
  // its attempt ends one way or the other; let it, before the next fault
  await run.next((e) => e.w === worker.id && 'op' in e && e.op === op && e.ev !== 'start', 15_000);
  const outcome = worker.events.find(
    (e) => 'op' in e && e.op === op && (e.ev === 'acquired' || e.ev === 'entered' || e.ev === 'error'),
  );
  record.note = outcome
    ? `the wait ended: ${outcome.ev === 'error' ? outcome.name : outcome.ev}`
    : 'no outcome';
  log(`  healed: ${worker.id} runs again; ${record.note}`);
  return true;
}

/**
 * Network faults through a worker's own proxies: lose-replies blackholes its replies from its next
 * request on (the enqueue's transaction, typically) for `windowMs`; reset-connections resets all
 * its connections mid-call.
 */
async function networkFault(run: Run, fault: FaultSpec, log: (line: string) => void): Promise<boolean> {
  let found: { worker: WorkerProcess; op: string } | undefined;
  if (fault.target === 'waiter') found = await nextWaiter(run, 0);
  else {
    const releasing = fault.target === 'releasing';
    const mark = await run.next((e) => {
      const w = run.workers.get(e.w);
      const hit = releasing ? e.ev === 'releasing' || e.ev === 'left' : isHoldingMark(e, run.spec.kind);
      return hit && w !== undefined && w.alive && !w.paused;
    }, 30_000);
    const worker = mark ? run.workers.get(mark.w) : undefined;
    if (worker && mark && 'op' in mark && mark.op !== undefined) found = { worker, op: mark.op };
  }
  if (!found) return false;
  const { worker, op } = found;
  const proxies = run.proxies.get(worker.id);
  if (!proxies) throw new Error(`${fault.kind} needs a proxied scenario (spec.proxied)`);
  const record: FaultRecord = { kind: fault.kind, t: now(), worker: worker.id, op };
  if (fault.kind === 'reset-connections') {
    for (const p of proxies.proxies) p.reset();
    run.faults.push(record);
    record.healedAt = now();
    log(`  fault: reset every connection of ${worker.id} (${op})`);
    return true;
  }
  const windowMs = fault.windowMs ?? 2000;
  const strikes = proxies.proxies.map((p) => p.blackholeRepliesFromNextRequest());
  // The client talks to one member at a time: whichever proxy sees the request strikes first.
  const struck = await new Promise<number | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 5000);
    for (const strike of strikes) {
      void strike.then((t) => {
        if (t === undefined) return;
        clearTimeout(timer);
        resolve(t);
      });
    }
  });
  for (const p of proxies.proxies) p.blackholeReplies();
  if (struck === undefined) {
    proxies.restore();
    log(`  missed: ${worker.id} sent no request within 5 s`);
    return false;
  }
  record.t = struck;
  run.faults.push(record);
  log(`  fault: ${worker.id}'s replies blackholed from its next request (${op}) for ${windowMs} ms`);
  await sleep(windowMs);
  // The window ends the way a lost path ends on a real network: the connections break (TCP never
  // drops bytes inside a live connection, so resuming the stream with a gap in it would model a
  // fault no client can see), and the client reconnects.
  proxies.restore();
  for (const p of proxies.proxies) p.reset();
  record.healedAt = now();
  log(`  healed: ${worker.id}'s connections reset, replies flow again`);
  return true;
}

async function pickMember(run: Run, kind: FaultKind): Promise<EtcdMember | undefined> {
  const leader = await run.cluster.leader();
  if (kind === 'kill-leader') return leader;
  if (kind === 'kill-follower') return run.cluster.members.find((m) => m !== leader && m.running);
  // restart-member-mid-wait: a member that a waiting worker is pinned to
  const deadline = now() + 20_000;
  while (!run.done && now() < deadline) {
    for (const w of run.waiting) {
      const endpoint = run.workers.get(w)?.config.endpoints;
      const member = run.cluster.members.find((m) => endpoint?.length === 1 && endpoint[0] === m.clientUrl);
      if (member?.running) return member;
    }
    await sleep(20);
  }
  return undefined;
}

async function leftovers(
  client: Etcd3,
  prefixes: string[],
  leases: string[],
): Promise<{ keys: string[]; leases: string[] }> {
  const keys: string[] = [];
  for (const p of prefixes) keys.push(...(await client.getAll().prefix(p).keys()));
  const alive: string[] = [];
  for (const id of leases) {
    const res = await client.leaseClient.leaseTimeToLive({ ID: id, keys: false });
    if (Number(res.TTL) > 0) alive.push(id);
  }
  return { keys, leases: alive };
}

/** Runs one scenario to completion and returns the checker's report. */
export async function runScenario(spec: ScenarioSpec, options: RunOptions): Promise<ScenarioReport> {
  const { cluster } = options;
  const log = options.log ?? (() => undefined);
  for (const m of cluster.members) if (!m.running) await m.start();
  const root = `chaos/${spec.name}/${randomBytes(4).toString('hex')}/`;
  const name = `${root}lock`;
  const lockPrefix = `${name}/`;
  const register = spec.kind === 'semaphore' ? `${root}slots/` : `${root}register`;
  const markerOnly = spec.kind === 'semaphore' || spec.kind === 'barrier';
  const client = createClient({ endpoints: cluster.endpoints });
  try {
    const init = markerOnly
      ? await client.put(`${root}begin`).value('begin').exec()
      : await client
          .put(register)
          .value(JSON.stringify({ count: 0, token: '0', writer: 'init', op: 'init' }))
          .exec();
    const startRev = BigInt(init.header.revision);
    const clock = await startRevisionClock(client, root, startRev);
    const started = now();
    const run = new Run(spec, cluster, {
      kind: spec.kind,
      name,
      register,
      ops: spec.opsPerWorker,
      deadline: Date.now() + spec.timeLimitMs,
      ttl: spec.ttl,
      thinkMs: spec.thinkMs,
      unguarded: spec.unguarded ?? false,
      ...(spec.permits !== undefined ? { permits: spec.permits } : {}),
      ...(spec.count !== undefined ? { count: spec.count } : {}),
      ...(spec.callTimeoutMs !== undefined ? { callTimeoutMs: spec.callTimeoutMs } : {}),
      ...(spec.fault?.kind === 'block-waiter'
        ? { blockMs: spec.fault.pauseMs ?? spec.ttl * 1000 + 2000 }
        : {}),
    });
    log(`[chaos] ${spec.name}: ${spec.workers} workers, ${spec.opsPerWorker} ops each, TTL ${spec.ttl} s`);
    for (let i = 0; i < spec.workers; i++) await run.spawn(i, `w${i + 1}`);

    const faults = injectFaults(run, log).catch((err: unknown) => {
      log(`  fault injection failed: ${err instanceof Error ? err.message : String(err)}`);
    });
    // Workers come and go (replacements): wait until every one that was ever started has exited.
    const hung: string[] = [];
    const hardStop = started + spec.timeLimitMs + EXIT_GRACE_MS;
    for (;;) {
      const live = [...run.workers.values()].filter((w) => w.alive);
      if (live.length === 0) break;
      if (now() > hardStop) {
        for (const w of live) {
          hung.push(w.id);
          w.signal('SIGCONT');
          w.signal('SIGKILL');
          await w.exited;
        }
        break;
      }
      await Promise.race([Promise.all(live.map((w) => w.exited)), sleep(250)]);
    }
    run.done = true;
    await faults;
    for (const p of run.proxies.values()) await p.close();
    for (const m of cluster.members) if (!m.running) await m.start();
    const durationMs = now() - started;

    // Killed workers' leases expire by themselves: give them TTL (+ lessor and leader-change slack).
    const leases = [
      ...new Set(
        [...run.workers.values()].flatMap((w) =>
          w.events.flatMap((e) => (e.ev === 'session' ? [e.lease] : [])),
        ),
      ),
    ];
    const prefixes = spec.kind === 'semaphore' ? [lockPrefix, register] : [lockPrefix];
    let left = await leftovers(client, prefixes, leases);
    const leakDeadline = now() + spec.ttl * 1000 + 6000;
    while ((left.keys.length > 0 || left.leases.length > 0) && now() < leakDeadline) {
      await sleep(250);
      left = await leftovers(client, prefixes, leases);
    }

    const history = await replayHistory(client, root, startRev);
    await clock.stop();
    const events = [...run.workers.values()].flatMap((w) => w.events);
    const report = check({
      scenario: spec.name,
      kind: spec.kind,
      unguarded: spec.unguarded ?? false,
      lockPrefix,
      register,
      permits: spec.permits ?? 1,
      ...(spec.count !== undefined ? { count: spec.count } : {}),
      history,
      events,
      faults: run.faults,
      killed: run.killed,
      hung,
      revTimes: clock.times,
      leftoverKeys: left.keys,
      leftoverLeases: left.leases,
      ttl: spec.ttl,
      workers: spec.workers,
      durationMs,
    });
    for (const w of run.workers.values()) {
      if (w.exitCode !== 0 && !run.killed.has(w.id) && !hung.includes(w.id)) {
        report.errors[`exit-code:${w.exitCode}`] = (report.errors[`exit-code:${w.exitCode}`] ?? 0) + 1;
        log(`  ${w.id} exited with ${w.exitCode}; stderr:\n${w.stderr.slice(-2000)}`);
      }
    }
    if (options.artifactsDir) {
      const dir = path.join(
        options.artifactsDir,
        spec.name.replace(/[^\w.-]+/g, '_') + (spec.unguarded ? '-unguarded' : ''),
      );
      await mkdir(dir, { recursive: true });
      const bigints = (_: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);
      await writeFile(path.join(dir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
      await writeFile(
        path.join(dir, 'history.jsonl'),
        history.map((e) => JSON.stringify(e, bigints)).join('\n') + '\n',
      );
      await writeFile(path.join(dir, 'report.json'), JSON.stringify(report, bigints, 2));
      const stderr = [...run.workers.values()]
        .map((w) => `=== ${w.id} (exit ${w.exitCode})\n${w.stderr}`)
        .join('\n');
      await writeFile(path.join(dir, 'workers-stderr.txt'), stderr);
      report.artifacts = dir;
    }
    return report;
  } finally {
    client.close();
  }
}
