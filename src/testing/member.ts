import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { waitForHealthy } from './health.js';
import { childEnv, isAlive, killQuietly, logTail, spawnWatchdog, track } from './processes.js';
import type { EtcdMember, EtcdTlsFiles } from './types.js';

const KILL_ESCALATION_MS = 10_000;

/** How to run one member. */
export interface MemberConfig {
  bin: string;
  tmpDir: string;
  logFile: string;
  startTimeoutMs: number;
  /** The full etcd argv of this member. */
  args: string[];
  clusterSize: number;
  /** Client certificate for health checks of an https member. */
  tls?: EtcdTlsFiles | undefined;
}

/** A member run as a child process, with its log in the cluster's temp dir. */
export class ProcessMember implements EtcdMember {
  #child: ChildProcess | undefined;
  #watchdog: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #spawnError: Error | undefined;
  #paused = false;
  #disposed = false;

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    private readonly cfg: MemberConfig,
  ) {}

  get pid(): number | undefined {
    return isAlive(this.#child) ? this.#child.pid : undefined;
  }

  get running(): boolean {
    return isAlive(this.#child);
  }

  /** Spawns the process without waiting for health. */
  spawnProcess(): void {
    if (this.#disposed) throw new Error(`etcd member ${this.name}: the cluster was stopped`);
    if (this.running) throw new Error(`etcd member ${this.name} is already running (pid ${this.pid})`);
    const fd = openSync(this.cfg.logFile, 'a');
    let child: ChildProcess;
    try {
      writeSync(fd, `\n=== ${new Date().toISOString()} ${this.cfg.bin} ${this.cfg.args.join(' ')}\n`);
      child = spawn(this.cfg.bin, this.cfg.args, { stdio: ['ignore', fd, fd], env: childEnv() });
    } finally {
      closeSync(fd);
    }
    this.#spawnError = undefined;
    this.#paused = false;
    child.on('error', (err) => {
      this.#spawnError = err;
    });
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        killQuietly(this.#watchdog, 'SIGKILL');
        resolve();
      });
      // 'exit' is not emitted when spawning itself failed
      child.once('error', () => {
        if (child.pid === undefined) resolve();
      });
    });
    this.#child = child;
    if (child.pid !== undefined) {
      // a forgotten cluster must not keep the process alive; the 'exit' hook and the watchdog clean up
      child.unref();
      track(child);
      this.#watchdog = spawnWatchdog(child.pid, this.cfg.tmpDir);
    }
  }

  /** Resolves once `/health` says healthy; rejects with the log's tail if the process died. */
  async waitHealthy(): Promise<void> {
    const child = this.#child;
    try {
      await waitForHealthy(
        this.clientUrl,
        this.cfg.startTimeoutMs,
        () => {
          if (this.#spawnError) return `could not spawn ${this.cfg.bin}: ${this.#spawnError.message}`;
          if (child && (child.exitCode !== null || child.signalCode !== null)) {
            const how = child.signalCode ?? `code ${child.exitCode}`;
            return `etcd member ${this.name} exited during start-up (${how})`;
          }
          return undefined;
        },
        this.cfg.tls,
      );
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(
        `${message}\n--- ${this.cfg.logFile} (tail) ---\n${await logTail(this.cfg.logFile)}\n---`,
        { cause: err },
      );
    }
  }

  async start(): Promise<void> {
    this.spawnProcess();
    await this.waitHealthy();
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (!isAlive(child)) return;
    child.ref();
    try {
      killQuietly(child, signal);
      if (this.#paused && signal !== 'SIGKILL' && signal !== 'SIGSTOP') killQuietly(child, 'SIGCONT');
      const escalation = setTimeout(() => {
        killQuietly(child, 'SIGKILL');
      }, KILL_ESCALATION_MS);
      await this.#exited;
      clearTimeout(escalation);
    } finally {
      this.#paused = false;
      killQuietly(this.#watchdog, 'SIGKILL');
    }
  }

  async wipe(): Promise<void> {
    if (this.cfg.clusterSize !== 1) {
      throw new Error(`wipe() is only supported for single-node clusters (member ${this.name})`);
    }
    await this.kill();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  pause(): void {
    if (!isAlive(this.#child)) throw new Error(`etcd member ${this.name} is not running`);
    killQuietly(this.#child, 'SIGSTOP');
    this.#paused = true;
  }

  resume(): void {
    if (!isAlive(this.#child)) throw new Error(`etcd member ${this.name} is not running`);
    killQuietly(this.#child, 'SIGCONT');
    this.#paused = false;
  }

  /** Kills the member for good: start() refuses afterwards. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    await this.kill('SIGKILL');
  }
}
