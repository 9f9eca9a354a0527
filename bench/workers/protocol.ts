import type { Wait } from '../stats.js';

/** What one worker process plays in a multi-process case. */
export type Role =
  | {
      kind: 'lock';
      impl: 'etcd-concurrency' | 'etcd3';
      endpoints: string[];
      name: string;
      dataKey: string;
      cs: 'mem' | 'txn';
      who: string;
      ttl: number;
    }
  | { kind: 'ring'; endpoints: string[]; prefix: string; index: number; n: number }
  | { kind: 'campaign'; endpoints: string[]; name: string; who: string; ttl: number };

export type ToWorker =
  | { type: 'prepare'; role: Role }
  /** Start contending (ring: node 0 puts the first token) until `stopAt` on the shared clock. */
  | { type: 'go'; stopAt: number }
  /** Ring: another node ended the ring; report. */
  | { type: 'halt' }
  /** Release everything the role holds (session, client), then answer `cleaned`. */
  | { type: 'cleanup' };

export interface WorkerReport {
  waits: Wait[];
  ringHandoffs: number[];
  ringCycles: number[];
  cpuMs: number;
  loopDelayP99Ms: number;
  errors: number;
  firstError?: string;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'done'; report: WorkerReport }
  /** Ring: this node got the token after the stop time and kept it. */
  | { type: 'halted' }
  /** Campaign: this process became the leader at `at` (shared clock). */
  | { type: 'elected'; at: number }
  | { type: 'cleaned' }
  | { type: 'failed'; message: string };
