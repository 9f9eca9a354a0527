import type { BenchCase, CaseContext } from './context.js';
import { electionFailover, electionHandoff } from './election.js';
import { etcd3LockInProcess, lockMultiProcess, mutexInProcess } from './lock.js';
import { ringInProcess, ringMultiProcess } from './ring.js';
import { semaphoreInProcess } from './semaphore.js';

/** Contender counts of the in-process cases (issue 6). */
export const IN_PROCESS_N = [1, 2, 8, 32, 128] as const;
/** Worker processes of the multi-process cases. */
export const MULTI_PROCESS_N = 8;
/** Session TTL of the crash-failover campaigners, seconds. */
export const FAILOVER_TTL_S = 2;

/**
 * Every case, in the order they run: for each N, the floor, ours and etcd3's back to back, so
 * that the ratios compare runs made seconds apart (load on a shared machine drifts); then the
 * multi-process cases, Election and Semaphore.
 */
export function allCases(): BenchCase[] {
  return [
    ...IN_PROCESS_N.flatMap((n) => [
      ringInProcess(n),
      ringInProcess(n, true),
      mutexInProcess(n, 'mem'),
      mutexInProcess(n, 'txn'),
      etcd3LockInProcess(n, 'mem'),
      etcd3LockInProcess(n, 'txn'),
    ]),
    ringMultiProcess(MULTI_PROCESS_N),
    lockMultiProcess('etcd-concurrency', MULTI_PROCESS_N, 'mem'),
    lockMultiProcess('etcd-concurrency', MULTI_PROCESS_N, 'txn'),
    lockMultiProcess('etcd3', MULTI_PROCESS_N, 'mem'),
    lockMultiProcess('etcd3', MULTI_PROCESS_N, 'txn'),
    electionHandoff(8),
    electionFailover(3, FAILOVER_TTL_S, (ctx: CaseContext) => (ctx.quick ? 1 : 3)),
    semaphoreInProcess(32, 4),
  ];
}
