/** What a case is: the coordinates every result line carries. */

/**
 * `etcd-concurrency` is this library; `go` is etcd's own Go `clientv3/concurrency` (the reference
 * implementation); `etcd3` is etcd3 npm's own Lock; `raw-ring` is the floor.
 */
export type Impl = 'etcd-concurrency' | 'go' | 'etcd3' | 'raw-ring';
/** One OS process for every contender, or one OS process per contender. */
export type Mode = 'in-process' | 'multi-process';
/**
 * `shared`: every contender of the process on one client (one gRPC connection); `own`: each
 * contender its own client, sharing nothing, as separate processes would (the fleet). Multi-process
 * cases and the raw ring are always `own`.
 */
export type Clients = 'shared' | 'own';
/** The critical section: increment a counter in memory, or a guarded write to etcd (`none`: no loop body). */
export type CriticalSection = 'mem' | 'txn' | 'none';

export interface CaseSpec {
  /**
   * `ring`, `ring-2w`, `mutex` (one name), `mutex-fresh` (a new name every cycle), `rwmutex`,
   * `semaphore`, `election-handoff`, `election-failover`, `keepalive`.
   */
  bench: string;
  impl: Impl;
  /** Contenders (ring: participants; failover: campaigning processes; keepalive: sessions). */
  n: number;
  mode: Mode;
  clients: Clients;
  cs: CriticalSection;
}

/** A stable, human-readable id for `--only` and progress lines, e.g. `mutex/go/in-process/own/n=8/mem`. */
export function caseId(spec: CaseSpec): string {
  return `${spec.bench}/${spec.impl}/${spec.mode}/${spec.clients}/n=${spec.n}/${spec.cs}`;
}
