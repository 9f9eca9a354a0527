/** What a case is: the coordinates every result line carries. */

/** `etcd-concurrency` is this library; `etcd3` is etcd3 npm's own Lock; `raw-ring` is the floor. */
export type Impl = 'etcd-concurrency' | 'etcd3' | 'raw-ring';
/** One process with one client (contenders share it), or one OS process with its own client each. */
export type Mode = 'in-process' | 'multi-process';
/** The critical section: increment a counter in memory, or a guarded write to etcd (`none`: no loop body). */
export type CriticalSection = 'mem' | 'txn' | 'none';

export interface CaseSpec {
  /** `ring`, `mutex`, `election-handoff`, `election-failover`, `semaphore`. */
  bench: string;
  impl: Impl;
  /** Contenders (ring: participants; failover: campaigning processes). */
  n: number;
  mode: Mode;
  cs: CriticalSection;
}

/** A stable, human-readable id for `--only` and progress lines, e.g. `mutex/etcd3/in-process/n=8/mem`. */
export function caseId(spec: CaseSpec): string {
  return `${spec.bench}/${spec.impl}/${spec.mode}/n=${spec.n}/${spec.cs}`;
}
