/**
 * Real pauses, the faults a lease cannot see coming: a process that stops running while its
 * lease, its peers and etcd go on. Two kinds:
 *
 * - in-process, {@link blockEventLoop}: nothing of this process runs (no keep-alive, no timer, no
 *   watch event) while the loop is blocked, as in a long GC pause or a CPU-bound task;
 * - another process, {@link stopProcess}/{@link continueProcess}: `SIGSTOP` freezes it whole, as
 *   a VM migration or a debugger would, and `SIGCONT` lets it run on, unaware of the gap.
 *
 * Processes are only ever signalled by PID.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Blocks the event loop for `ms` milliseconds with a synchronous busy wait: the model of a
 * stop-the-world GC pause. Timers, sockets and promises of this process are all held up; the
 * kernel still buffers what arrives, so etcd's answers are read the moment the loop is free.
 *
 * @example
 * ```ts
 * const waiting = mutex.lock();          // a waiter of this process
 * blockEventLoop(ttlMs + 2000);          // its lease expires meanwhile
 * await expect(waiting).rejects.toThrow(SessionExpiredError);
 * ```
 */
export function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    /* busy: nothing else of this process may run */
  }
}

/** Something that runs as a process: a `ChildProcess`, a `Spawned` of ./spawn.ts, or a PID. */
export type Pausable = number | { pid?: number | undefined } | { child: { pid?: number | undefined } };

function pidOf(target: Pausable): number {
  const pid = typeof target === 'number' ? target : 'child' in target ? target.child.pid : target.pid;
  if (pid === undefined) throw new Error('the process has no PID (it never started)');
  return pid;
}

/** Sends `signal` by PID; false if the process is already gone. */
function signal(target: Pausable, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pidOf(target), sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** `SIGSTOP`s the process; false if it had exited. */
export function stopProcess(target: Pausable): boolean {
  return signal(target, 'SIGSTOP');
}

/** `SIGCONT`s the process; false if it had exited. */
export function continueProcess(target: Pausable): boolean {
  return signal(target, 'SIGCONT');
}

/**
 * Stops the process for `ms` milliseconds, then lets it go on. Resumes it even if the wait is
 * interrupted, so a failing test never leaves a stopped process behind.
 *
 * @example
 * ```ts
 * await pauseProcess(worker, (ttl + 2) * 1000);   // its lease expires while it cannot run
 * ```
 */
export async function pauseProcess(target: Pausable, ms: number): Promise<{ pausedMs: number }> {
  const started = Date.now();
  if (!stopProcess(target)) return { pausedMs: 0 };
  try {
    await sleep(ms);
  } finally {
    continueProcess(target);
  }
  return { pausedMs: Date.now() - started };
}
