import type { GoBuild } from '../go/build.js';
import type { CaseSpec } from '../spec.js';
import type { Outcome } from '../result.js';
import type { WorkerProcess } from '../workers/process.js';

/** What the runner gives a case. */
export interface CaseContext {
  endpoints: string[];
  durationMs: number;
  /** An unmeasured run of the same loop before the measured one (JIT, connections, mirrors); 0 for none. */
  warmupMs: number;
  quick: boolean;
  /** A key prefix of this case alone (`bench/<run>/<case>/`): the case deletes it when done. */
  prefix: string;
  /** Progress, on stderr. */
  log(message: string): void;
  /** `n` worker processes, shared by the multi-process cases (spawned on first use). */
  workers(n: number): Promise<WorkerProcess[]>;
  /** The Go contender's binary (built on first use), or why there is none. */
  go(): Promise<GoBuild>;
}

export interface BenchCase extends CaseSpec {
  /** Why the case cannot run in this checkout (e.g. a primitive not exported yet), if it cannot. */
  unavailable?(): string | undefined;
  run(ctx: CaseContext): Promise<Outcome>;
}

/** Thrown by a case that cannot run here (e.g. no Go toolchain): reported as skipped, not failed. */
export class CaseSkipped extends Error {
  override readonly name = 'CaseSkipped';
}

/** Worker replies can take a while on a busy 2-core machine; none should take this long. */
export const REPLY_TIMEOUT_MS = 30_000;
