import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { sharedEtcdEndpoints } from './etcd.js';

/** The repository root: commands run from there, as a user of the clone would run them. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Spawned {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves when the process has exited (and its output ended). */
  exited: Promise<Exit>;
  /** {@link exited}, or a rejection showing the output so far after `timeoutMs`. */
  exit(timeoutMs?: number): Promise<Exit>;
  /** Resolves with the first match of `pattern` in stdout+stderr; rejects on timeout or early exit. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends a signal by PID, if the process still runs. */
  kill(signal?: NodeJS.Signals): void;
}

const running = new Set<Spawned>();

/**
 * Every process a test spawned is SIGKILLed (by PID) after the test if it still runs, so a failing
 * test leaves nothing behind.
 */
export function useSpawn(): void {
  afterEach(async () => {
    const left = [...running];
    running.clear();
    for (const p of left) p.kill('SIGKILL');
    await Promise.all(left.map((p) => p.exited));
  });
}

/**
 * Runs a TypeScript entry point of this repository with the running Node and tsx (`node --import
 * tsx file.ts args…`), with `ETCD_ENDPOINTS` pointing at the tests' shared etcd.
 */
export function runTs(file: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Spawned {
  return spawnProcess(process.execPath, ['--import', 'tsx', file, ...args], {
    ETCD_ENDPOINTS: sharedEtcdEndpoints().join(','),
    ...env,
  });
}

/** Spawns `command` in the repository root with piped stdio and the extra `env`. */
export function spawnProcess(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const fn of listeners) fn();
  };
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
    changed();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    changed();
  });
  let done = false;
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => {
      done = true;
      running.delete(spawned);
      resolve({ code, signal, stdout, stderr });
      changed();
    });
  });
  const spawned: Spawned = {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    exit(timeoutMs = 20_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`still running after ${timeoutMs} ms:\n${stdout}\n${stderr}`));
        }, timeoutMs);
      });
      return Promise.race([exited, timeout]).finally(() => {
        clearTimeout(timer);
      });
    },
    waitFor(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = (stdout + stderr).match(pattern);
          if (match) finish(() => resolve(match));
          else if (done) finish(() => reject(new Error(`exited before ${pattern}:\n${stdout}\n${stderr}`)));
        };
        const timer = setTimeout(() => {
          finish(() => reject(new Error(`timed out waiting for ${pattern}:\n${stdout}\n${stderr}`)));
        }, timeoutMs);
        const finish = (fn: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          fn();
        };
        listeners.add(check);
        check();
      });
    },
    kill(signal = 'SIGTERM') {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, signal);
        } catch {
          // already gone
        }
      }
    },
  };
  running.add(spawned);
  return spawned;
}
