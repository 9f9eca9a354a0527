import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromWorker, ToWorker } from './protocol.js';

const WORKER_FILE = fileURLToPath(new URL('./worker.ts', import.meta.url));
/** How long a worker may take to exit after its channel closes before it is SIGKILLed. */
const EXIT_GRACE_MS = 10_000;

type Of<T extends FromWorker['type']> = Extract<FromWorker, { type: T }>;

interface Expectation {
  type: FromWorker['type'];
  resolve(msg: FromWorker): void;
  reject(err: Error): void;
}

/**
 * One worker OS process (the bundled Node running `worker.ts` through the same tsx loader as
 * this process: `fork` passes our execArgv on), with a typed request/reply channel over IPC.
 * It exits by itself when its channel closes; {@link close} waits for that.
 */
export class WorkerProcess {
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private readonly inbox: FromWorker[] = [];
  private readonly expectations: Expectation[] = [];
  private failure: Error | undefined;

  private constructor(readonly label: string) {
    // BENCH_CPU_PROF_DIR=dir: every worker writes a V8 CPU profile there when it exits.
    const profDir = process.env.BENCH_CPU_PROF_DIR;
    this.child = fork(WORKER_FILE, [label], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      ...(profDir ? { execArgv: [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {}),
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.fail(new Error(`worker ${label} exited (${signal ?? `code ${code ?? '?'}`})`));
        resolve();
      });
    });
    this.child.on('error', (err) => {
      this.fail(err);
    });
    this.child.on('message', (msg: FromWorker) => {
      if (msg.type === 'failed') {
        this.fail(new Error(`worker ${label}: ${msg.message}`));
        return;
      }
      const at = this.expectations.findIndex((e) => e.type === msg.type);
      if (at >= 0) this.expectations.splice(at, 1)[0]!.resolve(msg);
      else this.inbox.push(msg);
    });
  }

  static spawn(label: string): WorkerProcess {
    return new WorkerProcess(label);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send(msg: ToWorker): void {
    if (this.failure) throw this.failure;
    this.child.send(msg);
  }

  /** The next message of `type` (already received or still to come), within `timeoutMs`. */
  expect<T extends FromWorker['type']>(type: T, timeoutMs: number): Promise<Of<T>> {
    const at = this.inbox.findIndex((m) => m.type === type);
    if (at >= 0) return Promise.resolve(this.inbox.splice(at, 1)[0] as Of<T>);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Of<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.expectations.indexOf(expectation);
        if (i >= 0) this.expectations.splice(i, 1);
        reject(new Error(`worker ${this.label} sent no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const expectation: Expectation = {
        type,
        resolve: (msg) => {
          clearTimeout(timer);
          resolve(msg as Of<T>);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.expectations.push(expectation);
    });
  }

  /** Sends `msg` and waits for the reply of type `reply`. */
  request<T extends FromWorker['type']>(msg: ToWorker, reply: T, timeoutMs: number): Promise<Of<T>> {
    const answer = this.expect(reply, timeoutMs);
    this.send(msg);
    return answer;
  }

  /** Drops received and awaited messages of `type` (e.g. the `halted` of nodes that never halted). */
  forget(type: FromWorker['type']): void {
    for (let i = this.inbox.length - 1; i >= 0; i--)
      if (this.inbox[i]!.type === type) this.inbox.splice(i, 1);
    for (const e of this.expectations.filter((x) => x.type === type)) {
      this.expectations.splice(this.expectations.indexOf(e), 1);
      e.reject(new Error(`no longer waiting for "${type}"`));
    }
  }

  /** A crash: SIGKILL by pid, no chance to clean up. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /** Closes the channel (the worker cleans up and exits by itself); SIGKILL if it does not. */
  async close(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => {
      this.kill();
    }, EXIT_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const e of this.expectations.splice(0)) e.reject(err);
  }
}

/** Spawns `n` workers and waits until each answers (the loader compiles `worker.ts` once each). */
export function spawnWorkers(n: number, label: string): WorkerProcess[] {
  return Array.from({ length: n }, (_, i) => WorkerProcess.spawn(`${label}-${i}`));
}
