/**
 * Bookkeeping of the child processes the harness starts. Children are only ever signalled by PID.
 * Every etcd child is SIGKILLed synchronously from a process 'exit' hook, and additionally watched
 * by a tiny `sh` watchdog that SIGKILLs it when the Node process that started it disappears
 * without running 'exit' hooks (e.g. a vitest fork that is SIGTERMed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

const liveChildren = new Set<ChildProcess>();
/** Temp dirs of clusters not stopped yet, removed by the 'exit' hook. */
const liveTmpDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of liveChildren) {
      if (c.pid !== undefined) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const dir of liveTmpDirs) {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
      } catch {
        // best effort: the process is exiting
      }
    }
  });
}

/** Registers a child to be SIGKILLed if this process exits while it runs. */
export function track(child: ChildProcess): void {
  installExitHook();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

/** Registers (or, with `live = false`, unregisters) a temp dir to remove at process exit. */
export function trackTmpDir(dir: string, live = true): void {
  installExitHook();
  if (live) liveTmpDirs.add(dir);
  else liveTmpDirs.delete(dir);
}

export function isAlive(child: ChildProcess | undefined): child is ChildProcess {
  return (
    child !== undefined && child.pid !== undefined && child.exitCode === null && child.signalCode === null
  );
}

/** $1: our pid, $2: etcd pid, $3: the cluster's temp dir */
const WATCHDOG_SCRIPT =
  'while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -9 "$2" 2>/dev/null; sleep 1; [ -n "$3" ] && rm -rf "$3"; exit 0';

/**
 * SIGKILLs etcd `pid` (and removes `tmpDir`) once this Node process is gone without running its
 * 'exit' hooks. Killed by PID itself whenever the member is stopped normally.
 */
export function spawnWatchdog(pid: number, tmpDir: string): ChildProcess | undefined {
  try {
    const args = ['-c', WATCHDOG_SCRIPT, 'etcd-watchdog', String(process.pid), String(pid), tmpDir];
    const watchdog = spawn('sh', args, { stdio: 'ignore', detached: true });
    watchdog.on('error', () => undefined);
    watchdog.unref();
    track(watchdog);
    return watchdog;
  } catch {
    return undefined;
  }
}

export function killQuietly(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  const pid = child?.pid;
  if (pid !== undefined && isAlive(child)) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** The etcd child must not see ETCD_* variables: etcd reads them as flags and aborts on conflicts. */
export function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('ETCD_') || k === 'ETCD_UNSUPPORTED_ARCH') env[k] = v;
  }
  return env;
}

/** The last lines of a member's log, for start-up errors. */
export async function logTail(file: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
    return tail.length > 0 ? tail : '(log is empty)';
  } catch {
    return '(no log)';
  }
}
