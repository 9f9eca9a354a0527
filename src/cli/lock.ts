import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { isatty } from 'node:tty';
import type { Etcd3 } from 'etcd3';
import { type HolderInfo, leaseHex, LockedError } from '../errors.js';
import type { Hold } from '../queue/hold.js';
import { Mutex } from '../mutex/mutex.js';
import { Session } from '../session/session.js';
import { closeQuietly, connect, type GlobalOptions } from './connection.js';
import { EXIT } from './exit-codes.js';
import { createOutput, describeError, PROGRAM, type Output } from './output.js';
import { Interrupted, onStopSignal, signalExitCode, stopSignal } from './signals.js';

export interface LockOptions {
  /** Session TTL in seconds. */
  ttl: number;
  /** Seconds between SIGTERM and SIGKILL when the lock is lost; default a third of the TTL. */
  grace?: number;
  /** Give up after waiting this many seconds for the lock; default: wait as long as it takes. */
  timeout?: number;
  /** Do not wait: fail at once, naming the holder, if the lock is held. */
  try?: boolean;
}

/** The lock was not acquired (`--try`, `--timeout`); the command never started. */
class NotAcquired extends Error {
  constructor(
    message: string,
    readonly holder: HolderInfo | undefined,
  ) {
    super(message);
    this.name = 'NotAcquired';
  }
}

/** What `--json` reports about the hold. */
// A type, not an interface, so that it passes as the event's data record.
type Acquired = {
  name: string;
  key: string;
  fencingToken: bigint;
  leaseId: string;
};

/** How long a lock wait stays silent before saying who holds the lock. */
const QUIET_WAIT_MS = 300;

/**
 * `etcd-concurrency lock <name> [-- command…]`: takes the mutex `name` (Go's and etcdctl's key
 * layout), runs the command while holding it and returns the command's exit status. Without a
 * command, holds the lock until Ctrl-C. The lock is released when the command ends, and on
 * SIGINT/SIGTERM/SIGHUP (forwarded to the command first). If the lock is lost, the command gets
 * SIGTERM, then SIGKILL after the grace period, and the exit status is 76 (see exit-codes.ts).
 */
export async function lockCommand(
  name: string,
  argv: string[],
  options: LockOptions,
  globals: GlobalOptions,
): Promise<number> {
  const out = createOutput(globals.json === true);
  const graceMs = Math.round((options.grace ?? options.ttl / 3) * 1000);
  const client = await connect(globals, out);
  const stop = stopSignal();
  let session: Session | undefined;
  try {
    session = await Session.create(client, { ttl: options.ttl, signal: stop.signal });
    const mutex = new Mutex(session, name, { value: `${hostname()} pid ${process.pid}` });
    const hold = await acquire(client, mutex, options, stop.signal, out);
    // `stop` stays registered until the end (aborting it no longer matters): with no listener
    // for a moment, a SIGTERM arriving then would kill this process and orphan the command.
    const acquired: Acquired = {
      name,
      key: hold.key,
      fencingToken: hold.fencingToken,
      leaseId: session.leaseId,
    };
    const [file, ...args] = argv;
    const code =
      file === undefined
        ? await holdUntilStopped(hold, out, acquired)
        : await superviseCommand(file, args, hold, graceMs, out, acquired);
    await hold.release().catch(() => undefined);
    return code;
  } catch (err) {
    if (err instanceof Interrupted) return signalExitCode(err.signal);
    if (err instanceof NotAcquired) {
      out.note('not-acquired', `${PROGRAM}: ${err.message}`, {
        name,
        message: err.message,
        holder: err.holder ?? null,
        exitCode: EXIT.notAcquired,
      });
      return EXIT.notAcquired;
    }
    throw err;
  } finally {
    stop.dispose();
    await closeQuietly(session);
    client.close();
  }
}

/** Takes the lock: at once or not at all (`--try`), within `--timeout`, or waiting as needed. */
async function acquire(
  client: Etcd3,
  mutex: Mutex,
  options: LockOptions,
  stop: AbortSignal,
  out: Output,
): Promise<Hold> {
  if (options.try) {
    try {
      return await mutex.tryLock();
    } catch (err) {
      if (!(err instanceof LockedError)) throw err;
      throw new NotAcquired(`lock "${mutex.name}" not acquired: ${describeHolder(err.holder)}`, err.holder);
    }
  }
  const deadline = options.timeout === undefined ? undefined : AbortSignal.timeout(options.timeout * 1000);
  const waiting = setTimeout(() => {
    void announceWait(client, mutex, out);
  }, QUIET_WAIT_MS);
  try {
    return await mutex.lock({ signal: deadline ? AbortSignal.any([stop, deadline]) : stop });
  } catch (err) {
    if (!deadline?.aborted || stop.aborted) throw err;
    const holder = await currentHolder(client, mutex).catch(() => undefined);
    const within = `within ${options.timeout} s`;
    throw new NotAcquired(
      `lock "${mutex.name}" not acquired ${within}: ${holder ? describeHolder(holder) : 'it was still held'}`,
      holder,
    );
  } finally {
    clearTimeout(waiting);
  }
}

/** `held by lease 694d… (value "…") since revision 42, key …`: who to look at. */
function describeHolder(holder: HolderInfo): string {
  const value = holder.value === '' ? '' : ` (value ${JSON.stringify(holder.value)})`;
  return `held by lease ${leaseHex(holder.leaseId)}${value} since revision ${holder.createRevision}, key ${holder.key}`;
}

/** The key at the head of the lock's queue, unless it is our own. */
async function currentHolder(client: Etcd3, mutex: Mutex): Promise<HolderInfo | undefined> {
  const res = await client.getAll().prefix(mutex.prefix).sort('Create', 'Ascend').limit(1).exec();
  const head = res.kvs[0];
  if (!head || head.key.toString() === mutex.key) return undefined;
  return {
    key: head.key.toString(),
    value: head.value.toString(),
    leaseId: head.lease,
    createRevision: BigInt(head.create_revision),
  };
}

/** Without a command: print the lock and hold it until a stop signal; fail if it is lost. */
async function holdUntilStopped(hold: Hold, out: Output, acquired: Acquired): Promise<number> {
  out.event(
    'acquired',
    `locked "${acquired.name}": key ${hold.key}, fencing token ${hold.fencingToken}. Press Ctrl-C to release.`,
    acquired,
  );
  const ended = hold.signal.aborted
    ? 'lost'
    : await new Promise<'stopped' | 'lost'>((resolve) => {
        const offSignals = onStopSignal(() => {
          finish('stopped');
        });
        const onLost = () => {
          finish('lost');
        };
        hold.signal.addEventListener('abort', onLost, { once: true });
        function finish(how: 'stopped' | 'lost') {
          offSignals();
          hold.signal.removeEventListener('abort', onLost);
          resolve(how);
        }
      });
  if (ended === 'lost') {
    const reason = describeError(hold.signal.reason);
    out.note('lost', `${PROGRAM}: lock "${acquired.name}" lost: ${reason}`, {
      ...acquired,
      reason,
      exitCode: EXIT.lockLost,
    });
    return EXIT.lockLost;
  }
  out.event('released', `released "${acquired.name}"`, { name: acquired.name });
  return 0;
}

/** Runs the command under the lock; resolves with its exit status once it has ended. */
function superviseCommand(
  file: string,
  args: string[],
  hold: Hold,
  graceMs: number,
  out: Output,
  acquired: Acquired,
): Promise<number> {
  // Lost already (between the acquisition and here): the command must not start unsupervised,
  // as a listener added to an aborted signal never fires.
  if (hold.signal.aborted) {
    out.note(
      'lost',
      `lock "${acquired.name}" lost before ${file} started: ${describeError(hold.signal.reason)}; exit status ${EXIT.lockLost}`,
      { ...acquired, reason: describeError(hold.signal.reason), exitCode: EXIT.lockLost },
    );
    return Promise.resolve(EXIT.lockLost);
  }
  // Humans see only waits and trouble: the command's own output stays clean, as with etcdctl lock.
  out.note('acquired', undefined, { ...acquired, command: file });
  // Without a terminal to share, the command gets its own process group, so that signals (and
  // SIGKILL when the lock is lost) reach everything it started, not only its first process. A
  // command on a terminal stays in the terminal's foreground group, where it can read input and
  // Ctrl-C reaches all of it anyway.
  const ownGroup = !isatty(0);
  const child = spawn(file, args, {
    stdio: 'inherit',
    detached: ownGroup,
    env: { ...process.env, ETCD_LOCK_KEY: hold.key, ETCD_LOCK_REV: hold.fencingToken.toString() },
  });
  return new Promise<number>((resolve) => {
    let lost = false;
    let escalation: NodeJS.Timeout | undefined;
    const signalChild = (signal: NodeJS.Signals) => {
      const pid = child.pid;
      if (pid === undefined) return;
      try {
        if (ownGroup) process.kill(-pid, signal);
        else if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      } catch {
        // already gone
      }
    };
    const offSignals = onStopSignal((signal) => {
      signalChild(signal);
    });
    const onLost = () => {
      lost = true;
      out.note(
        'lost',
        `lock "${acquired.name}" lost: ${describeError(hold.signal.reason)} ` +
          `Stopping ${file} (SIGTERM, SIGKILL after ${graceMs / 1000} s).`,
        { ...acquired, reason: describeError(hold.signal.reason) },
      );
      signalChild('SIGTERM');
      escalation = setTimeout(() => {
        signalChild('SIGKILL');
      }, graceMs);
    };
    hold.signal.addEventListener('abort', onLost, { once: true });
    const done = (code: number) => {
      offSignals();
      hold.signal.removeEventListener('abort', onLost);
      clearTimeout(escalation);
      resolve(code);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      // 'exit' does not follow a failed spawn; the shell's statuses say why.
      if (child.pid !== undefined) return;
      const notFound = err.code === 'ENOENT';
      out.note('error', `${PROGRAM}: cannot run ${file}: ${notFound ? 'command not found' : err.message}`, {
        message: err.message,
      });
      done(notFound ? 127 : 126);
    });
    child.once('exit', (code, signal) => {
      const status = signal !== null ? signalExitCode(signal) : (code ?? 1);
      if (lost) {
        // Nothing it started may go on working without the lock.
        signalChild('SIGKILL');
        // Whatever the command says, its work was not (all) done under the lock.
        out.note(
          'exited',
          `${PROGRAM}: ${file} ended with status ${status} after the lock was lost; exit status ${EXIT.lockLost}`,
          { name: acquired.name, commandExitCode: status, exitCode: EXIT.lockLost },
        );
        done(EXIT.lockLost);
        return;
      }
      out.note('released', undefined, {
        name: acquired.name,
        exitCode: status,
      });
      done(status);
    });
  });
}

async function announceWait(client: Etcd3, mutex: Mutex, out: Output): Promise<void> {
  try {
    const holder = await currentHolder(client, mutex);
    if (!holder) return;
    out.note('waiting', `waiting for lock "${mutex.name}": ${describeHolder(holder)}`, {
      name: mutex.name,
      holder,
    });
  } catch {
    out.note('waiting', `waiting for lock "${mutex.name}"`, { name: mutex.name });
  }
}
