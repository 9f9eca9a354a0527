import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { WorkerEvent, WorkerTask } from './protocol.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** Every worker still running, so that nothing outlives the demo. */
const all = new Set<Worker>();
/** The PIDs of every worker started, for the summary. */
const pids: number[] = [];

export function startedPids(): readonly number[] {
  return pids;
}

/** A worker process and its reported events. */
export class Worker {
  readonly id: string;
  readonly child: ChildProcess;
  readonly events: WorkerEvent[] = [];
  readonly exited: Promise<number | null>;
  private readonly listeners = new Set<(e: WorkerEvent) => void>();
  private stderr = '';

  constructor(mode: 'mutex' | 'elect' | 'semaphore', task: WorkerTask, endpoints: string) {
    this.id = task.id;
    this.child = spawn(process.execPath, ['--import', 'tsx', WORKER, mode, JSON.stringify(task)], {
      env: { ...process.env, ETCD_ENDPOINTS: endpoints },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    all.add(this);
    if (this.child.pid !== undefined) pids.push(this.child.pid);
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let event: WorkerEvent;
      try {
        event = JSON.parse(line) as WorkerEvent;
      } catch {
        return;
      }
      this.events.push(event);
      for (const fn of this.listeners) fn(event);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        all.delete(this);
        resolve(code);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Calls `fn` for every event from now on; returns the teardown. */
  onEvent(fn: (e: WorkerEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The first (past or future) event of this kind; rejects if the worker exits first. */
  next<K extends WorkerEvent['event']>(kind: K): Promise<Extract<WorkerEvent, { event: K }>> {
    const seen = this.events.find((e) => e.event === kind);
    if (seen) return Promise.resolve(seen as Extract<WorkerEvent, { event: K }>);
    return new Promise((resolve, reject) => {
      const off = this.onEvent((e) => {
        if (e.event === 'error') {
          off();
          reject(new Error(`${this.id}: ${e.message}`));
        } else if (e.event === kind) {
          off();
          resolve(e as Extract<WorkerEvent, { event: K }>);
        }
      });
      void this.exited.then((code) => {
        off();
        reject(
          new Error(
            `${this.id} exited (${String(code)}) before "${kind}"${this.stderr ? `: ${this.stderr.trim()}` : ''}`,
          ),
        );
      });
    });
  }

  go(): void {
    this.child.stdin?.write('go\n');
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, signal);
      } catch {
        // already gone
      }
    }
  }
}

/** Starts `count` workers and waits until each has its session and is ready. */
export async function startWorkers(
  count: number,
  mode: 'mutex' | 'elect' | 'semaphore',
  task: (id: string) => WorkerTask,
  endpoints: string,
): Promise<Worker[]> {
  const workers = Array.from(
    { length: count },
    (_, i) => new Worker(mode, task(`worker-${i + 1}`), endpoints),
  );
  await Promise.all(workers.map((w) => w.next('ready')));
  return workers;
}

/** Asks every running worker to stop (SIGTERM), then SIGKILLs what is left after `graceMs`. */
export async function stopAll(graceMs = 3000): Promise<void> {
  const left = [...all];
  for (const w of left) w.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const w of left) w.kill('SIGKILL');
  }, graceMs);
  await Promise.all(left.map((w) => w.exited));
  clearTimeout(timer);
}

/** SIGKILLs every worker synchronously: the last resort on exit. */
export function killAll(): void {
  for (const w of all) w.kill('SIGKILL');
}
