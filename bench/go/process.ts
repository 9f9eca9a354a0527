import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Wait } from '../stats.js';

/** One `go <stopAt>` round of the Go contender: the same shape as a Node worker's report. */
export interface GoReport {
  waits: Wait[];
  errors: number;
  firstError?: string;
  cpuMs: number;
}

export interface GoArgs {
  endpoints: string[];
  name: string;
  n: number;
  who: string;
  ttl: number;
  mode: 'lock' | 'fresh' | 'keepalive';
  cs?: 'mem' | 'txn';
  dataKey?: string;
  sessions?: number;
}

/** How long the contender may take to close its sessions and exit before it is SIGKILLed. */
const EXIT_GRACE_MS = 10_000;

/**
 * One Go contender process (bench/go/mutex/main.go), driven over stdin/stdout lines. It exits
 * by itself when its stdin closes; an 'exit' hook SIGKILLs it (by pid) if this process ends first.
 */
export class GoProcess {
  readonly exited: Promise<void>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: string[] = [];
  private waiter: ((line: string | undefined) => void) | undefined;
  private ended = false;
  private stderr = '';
  private readonly onExit = () => {
    this.kill();
  };

  constructor(binary: string, args: GoArgs) {
    this.child = spawn(
      binary,
      [
        `-endpoints=${args.endpoints.join(',')}`,
        `-name=${args.name}`,
        `-n=${args.n}`,
        `-who=${args.who}`,
        `-ttl=${args.ttl}`,
        `-mode=${args.mode}`,
        `-cs=${args.cs ?? 'mem'}`,
        `-data=${args.dataKey ?? `${args.name}/data`}`,
        `-sessions=${args.sessions ?? 0}`,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    process.once('exit', this.onExit);
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
    const rl = createInterface({ input: this.child.stdout });
    rl.on('line', (line) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(line);
      } else this.lines.push(line);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', () => {
        process.removeListener('exit', this.onExit);
        this.ended = true;
        this.waiter?.(undefined);
        this.waiter = undefined;
        resolve();
      });
    });
    this.child.once('error', () => undefined);
  }

  /** Resolves once every contender has its client and session. */
  async ready(timeoutMs: number): Promise<void> {
    const line = await this.next(timeoutMs);
    if (line !== 'ready') throw new Error(`the Go contender did not start: ${line ?? ''} ${this.stderr}`);
  }

  /** Contends until `stopAt` (the shared monotonic clock, ms) and returns what happened. */
  async go(stopAt: number, timeoutMs: number): Promise<GoReport> {
    this.child.stdin.write(`go ${stopAt.toFixed(3)}\n`);
    const line = await this.next(timeoutMs);
    if (line === undefined) throw new Error(`the Go contender exited: ${this.stderr}`);
    return JSON.parse(line) as GoReport;
  }

  /** Closes every session and client, and waits for the process to exit. */
  async quit(): Promise<void> {
    if (!this.ended && this.child.stdin.writable) this.child.stdin.end('quit\n');
    const timer = setTimeout(() => {
      this.kill();
    }, EXIT_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  private kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private next(timeoutMs: number): Promise<string | undefined> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`the Go contender sent nothing within ${timeoutMs} ms: ${this.stderr}`));
      }, timeoutMs);
      this.waiter = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
    });
  }
}
