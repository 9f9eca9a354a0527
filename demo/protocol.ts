/** What the demo tells a worker (argv) and what a worker reports (one JSON line per event). */

export interface WorkerTask {
  /** `worker-1`, … */
  id: string;
  /** The mutex, election or semaphore name. */
  name: string;
  /** Session TTL in seconds. */
  ttl: number;
  turns?: number;
  holdMs?: number;
  permits?: number;
  jobs?: number;
  jobMs?: number;
}

interface Base {
  worker: string;
  /** Date.now() in the worker: all workers share this machine's clock. */
  t: number;
}

/** What a worker reports; the worker adds who and when ({@link WorkerEvent}). */
export type WorkerReport =
  | { event: 'ready'; pid: number; leaseId: string }
  | { event: 'acquired' | 'releasing'; token: string; turn: number }
  | { event: 'leader' | 'resigned'; token: string }
  | { event: 'job-start' | 'job-end'; job: number; token: string }
  | { event: 'error'; message: string };

export type WorkerEvent = Base & WorkerReport;
