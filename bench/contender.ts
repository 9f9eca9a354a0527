import type { Wait } from './stats.js';
import { now } from './clock.js';

/** What a contender holds while in its critical section. */
export interface Held {
  /** The holder's place in the primitive's queue (its key's create revision), where there is one. */
  ticket?: bigint;
  /** A write to etcd made while holding: guarded by the hold where the implementation can. */
  write(key: string, value: string): Promise<boolean>;
  release(): Promise<void>;
}

/** One party contending for a lock-like primitive. */
export interface Contender {
  readonly who: string;
  /** RWMutex: takes the exclusive hold (the others share theirs). */
  readonly writer?: boolean;
  /** Waits until held; rejects once `signal` aborts (the case is over). */
  acquire(signal: AbortSignal): Promise<Held>;
  /** Frees everything the contender owns (session, lease). */
  close(): Promise<void>;
}

export interface LoopOptions {
  /** Aborted when the case's time is up: no new wait starts, waits in progress are abandoned. */
  stop: AbortSignal;
  cs: 'mem' | 'txn' | 'none';
  /** The key the `txn` critical section writes. */
  dataKey: string;
}

export interface LoopResult {
  waits: Wait[];
  errors: number;
  firstError?: string;
}

/** A shared in-memory counter: the `mem` critical section. */
const counter = { value: 0 };

/** Max errors before a contender gives up: a broken case should fail fast, not spin. */
const MAX_ERRORS = 20;

/** Lock, run the critical section, release; again until stopped. Records every wait. */
export async function contend(c: Contender, opts: LoopOptions): Promise<LoopResult> {
  const result: LoopResult = { waits: [], errors: 0 };
  const fail = (err: unknown) => {
    result.errors++;
    result.firstError ??= err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  };
  while (!opts.stop.aborted && result.errors < MAX_ERRORS) {
    const start = now();
    let held: Held;
    try {
      held = await c.acquire(opts.stop);
    } catch (err) {
      if (opts.stop.aborted) {
        result.waits.push({ who: c.who, start });
        break;
      }
      fail(err);
      continue;
    }
    const acquired = now();
    const ticket = held.ticket === undefined ? {} : { ticket: Number(held.ticket) };
    try {
      if (opts.cs === 'mem') counter.value++;
      else if (opts.cs === 'txn' && !(await held.write(opts.dataKey, String(++counter.value)))) {
        fail(new Error('the guarded write did not commit while holding'));
      }
    } catch (err) {
      fail(err);
    }
    const released = now();
    try {
      await held.release();
    } catch (err) {
      fail(err);
    }
    result.waits.push({
      who: c.who,
      start,
      acquired,
      released,
      ...ticket,
      ...(c.writer ? { writer: true } : {}),
    });
  }
  return result;
}
