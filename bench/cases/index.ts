import type { BenchCase, CaseContext } from './context.js';
import { electionFailover, electionHandoff } from './election.js';
import { goMutex } from './go.js';
import { keepaliveCase } from './keepalive.js';
import { etcd3LockInProcess, lockMultiProcess, mutexInProcess, rwMutexInProcess } from './lock.js';
import { ringInProcess, ringMultiProcess } from './ring.js';
import { semaphoreInProcess } from './semaphore.js';

/** Contender counts of the in-process cases. */
export const IN_PROCESS_N = [1, 2, 8, 32, 128] as const;
/** Contender counts with each contender on its own client (the fleet), beside Go's Mutex. */
export const OWN_CLIENT_N = [8, 32, 128] as const;
/** Worker processes of the multi-process cases (32: full runs only, spawning them takes a while). */
export const MULTI_PROCESS_N = [8, 32] as const;
/** Session TTL of the crash-failover campaigners, seconds. */
export const FAILOVER_TTL_S = 2;

/**
 * Every case, in the order they run. For each N the floor first, then ours, Go's and etcd3's back
 * to back, own clients then a shared client, so that the ratios compare runs made seconds apart
 * (load on a shared machine drifts); then the separate processes, the other primitives, Election,
 * and the keep-alive cases. `quick` leaves out the 32 processes and shrinks the keep-alive case.
 */
export function allCases(quick: boolean): BenchCase[] {
  const perN = (n: number): BenchCase[] => {
    const floor = [ringInProcess(n), ringInProcess(n, true)];
    // One contender on one client: "own" and "shared" are the same case, run once.
    if (n === 1) {
      return [
        ...floor,
        mutexInProcess(1, 'mem', 'own'),
        goMutex(1, 'in-process', 'mem'),
        etcd3LockInProcess(1, 'mem', 'own'),
        mutexInProcess(1, 'txn', 'own'),
        goMutex(1, 'in-process', 'txn'),
        etcd3LockInProcess(1, 'txn', 'own'),
        mutexInProcess(1, 'mem', 'own', true),
        goMutex(1, 'in-process', 'mem', true),
        etcd3LockInProcess(1, 'mem', 'own', true),
      ];
    }
    const own = (OWN_CLIENT_N as readonly number[]).includes(n)
      ? [mutexInProcess(n, 'mem', 'own'), goMutex(n, 'in-process'), etcd3LockInProcess(n, 'mem', 'own')]
      : [];
    return [
      ...floor,
      ...own,
      mutexInProcess(n, 'mem'),
      mutexInProcess(n, 'txn'),
      etcd3LockInProcess(n, 'mem'),
      etcd3LockInProcess(n, 'txn'),
    ];
  };
  const processes = (n: number): BenchCase[] => [
    ringMultiProcess(n),
    lockMultiProcess('etcd-concurrency', n, 'mem'),
    ...(n === 8 ? [lockMultiProcess('etcd-concurrency', n, 'txn')] : []),
    goMutex(n, 'multi-process'),
    lockMultiProcess('etcd3', n, 'mem'),
    ...(n === 8 ? [lockMultiProcess('etcd3', n, 'txn')] : []),
  ];
  return [
    ...IN_PROCESS_N.flatMap(perN),
    ...MULTI_PROCESS_N.filter((n) => !quick || n <= 8).flatMap(processes),
    semaphoreInProcess(32, 4),
    semaphoreInProcess(32, 4, 'own'),
    rwMutexInProcess(32, 4, 'own'),
    electionHandoff(8),
    electionFailover(3, FAILOVER_TTL_S, (ctx: CaseContext) => (ctx.quick ? 1 : 3)),
    keepaliveCase('etcd-concurrency', quick),
    keepaliveCase('go', quick),
    keepaliveCase('etcd3', quick),
  ];
}
