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
import { createClient } from '../../src/client.js';
import type { EtcdCluster, EtcdMember } from '../support/etcd-cluster.js';
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
  /** pause-holder: how long the holder stays stopped (default TTL + 2 s) */
  pauseMs?: number;
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
  done = false;
  private listeners = new Set<(e: WorkerEvent) => void>();
  private replacements = 0;

  constructor(
    readonly spec: ScenarioSpec,
    readonly cluster: EtcdCluster,
    readonly base: Omit<WorkerConfig, 'id' | 'endpoints' | 'weight'>,
  ) {}

  spawn(index: number, id: string): WorkerProcess {
    const endpoints = this.spec.pinEndpoints
      ? [this.cluster.endpoints[index % this.cluster.endpoints.length]!]
      : this.cluster.endpoints;
    const weights = this.spec.weights ?? [1];
    return this.start({ ...this.base, id, endpoints, weight: weights[index % weights.length]! });
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
    if (e.ev === 'acquired' || (e.ev === 'error' && e.step === 'acquire') || e.ev === 'exit')
      this.waiting.delete(e.w);
    for (const fn of this.listeners) fn(e);
  }

  /** Every worker started has logged an attempt, and some worker has acquired. */
  steady(): boolean {
    const all = [...this.workers.values()];
    return (
      all.every((w) => w.events.some((e) => e.ev === 'start')) &&
      all.some((w) => w.events.some((e) => e.ev === 'acquired'))
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
  return kind === 'semaphore'
    ? e.ev === 'write' && e.phase === 'enter' && e.outcome === 'ok'
    : e.ev === 'read';
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
  const client = createClient({ endpoints: cluster.endpoints });
  try {
    const init =
      spec.kind === 'semaphore'
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
    });
    log(`[chaos] ${spec.name}: ${spec.workers} workers, ${spec.opsPerWorker} ops each, TTL ${spec.ttl} s`);
    for (let i = 0; i < spec.workers; i++) run.spawn(i, `w${i + 1}`);

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
