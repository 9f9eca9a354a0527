import { Etcd3 } from 'etcd3';
import { now } from '../clock.js';
import { type Contender, contend } from '../contender.js';
import { etcd3LockContender } from '../contenders/etcd3-lock.js';
import { freshMutexContender, mutexContender, rwMutexContender } from '../contenders/mutex.js';
import { createClient } from '../lib.js';
import type { Outcome } from '../result.js';
import type { CaseSpec, Clients, CriticalSection } from '../spec.js';
import { inBatches, openWindow } from '../window.js';
import { type BenchCase, type CaseContext, REPLY_TIMEOUT_MS } from './context.js';
import { sweep } from './sweep.js';

/** Session TTL of the contenders: long enough that no lease expires during a case. */
export const SESSION_TTL_S = 10;

export interface InProcessLock {
  spec: CaseSpec;
  /** How many may hold at once (an RWMutex: checked as readers–writer exclusion instead). */
  capacity: number;
  /** RWMutex: writers exclude everyone, readers share. */
  readersWriter?: boolean;
  /** `ours`: createClient (the library's tuned client); `etcd3`: a plain `new Etcd3()`, as its users make it. */
  client: 'ours' | 'etcd3';
  /** A contender on its client (shared or its own, per `spec.clients`); its keys live under `contendersPrefix`. */
  make(client: Etcd3, contendersPrefix: string, who: string, index: number): Promise<Contender> | Contender;
  unavailable?: () => string | undefined;
  /** Where the contenders' own keys live, to check none is left (default: under the name). */
  ownKeys?: (name: string) => string;
}

/**
 * `n` contenders in this process: lock, critical section, release, until time is up. With
 * `clients: 'shared'` they share one client; with `own` each has its own, as separate processes
 * would (one gRPC connection each, nothing learnt by one helps another).
 */
export function lockInProcess(opts: InProcessLock): BenchCase {
  const { spec } = opts;
  return {
    ...spec,
    ...(opts.unavailable ? { unavailable: opts.unavailable } : {}),
    async run(ctx: CaseContext): Promise<Outcome> {
      const newClient = () =>
        opts.client === 'etcd3'
          ? new Etcd3({ hosts: ctx.endpoints })
          : createClient({ endpoints: ctx.endpoints });
      const clients = Array.from({ length: spec.clients === 'own' ? spec.n : 1 }, newClient);
      const contendersPrefix = `${ctx.prefix}lock`;
      let contenders: Contender[] = [];
      let leftover = 0;
      try {
        contenders = await inBatches(spec.n, 16, async (i) =>
          opts.make(clients[spec.clients === 'own' ? i : 0]!, contendersPrefix, `c${i}`, i),
        );
        if (ctx.warmupMs > 0) {
          const warm = AbortSignal.timeout(ctx.warmupMs);
          await Promise.all(
            contenders.map((c) => contend(c, { stop: warm, cs: spec.cs, dataKey: `${ctx.prefix}data` })),
          );
        }
        const window = await openWindow(ctx.endpoints);
        const stop = new AbortController();
        const timer = setTimeout(() => {
          stop.abort();
        }, ctx.durationMs);
        const loops = await Promise.all(
          contenders.map((c) => contend(c, { stop: stop.signal, cs: spec.cs, dataKey: `${ctx.prefix}data` })),
        );
        clearTimeout(timer);
        const stats = await window.close();
        return {
          window: stats,
          waits: loops.flatMap((l) => l.waits),
          contenders: contenders.map((c) => c.who),
          capacity: opts.capacity,
          ...(opts.readersWriter ? { readersWriter: true } : {}),
          errors: loops.reduce((s, l) => s + l.errors, 0),
          firstError: loops.find((l) => l.firstError)?.firstError,
          // Read by summarize(), after the finally block below has swept the prefix.
          get extra() {
            return { leftover_keys: leftover };
          },
        };
      } finally {
        await Promise.allSettled(contenders.map((c) => c.close()));
        for (const client of clients) client.close();
        leftover = await sweep(
          ctx.endpoints,
          ctx.prefix,
          opts.ownKeys?.(contendersPrefix) ?? contendersPrefix,
        );
      }
    },
  };
}

/** Our Mutex in this process; `fresh`: a new name every cycle (bench `mutex-fresh`). */
export function mutexInProcess(
  n: number,
  cs: CriticalSection,
  clients: Clients = 'shared',
  fresh = false,
): BenchCase {
  return lockInProcess({
    spec: {
      bench: fresh ? 'mutex-fresh' : 'mutex',
      impl: 'etcd-concurrency',
      n,
      mode: 'in-process',
      clients,
      cs,
    },
    capacity: 1,
    client: 'ours',
    make: (client, name, who) =>
      (fresh ? freshMutexContender : mutexContender)(client, name, who, SESSION_TTL_S),
  });
}

/** etcd3's Lock with p-retry in this process; `fresh`: a new name every cycle. */
export function etcd3LockInProcess(
  n: number,
  cs: CriticalSection,
  clients: Clients = 'shared',
  fresh = false,
): BenchCase {
  return lockInProcess({
    spec: { bench: fresh ? 'mutex-fresh' : 'mutex', impl: 'etcd3', n, mode: 'in-process', clients, cs },
    capacity: 1,
    client: 'etcd3',
    make: (client, name, who) => etcd3LockContender(client, name, who, fresh),
  });
}

/** Our RWMutex, every `writerEvery`-th contender a writer, the others readers. */
export function rwMutexInProcess(n: number, writerEvery: number, clients: Clients): BenchCase {
  return lockInProcess({
    spec: { bench: 'rwmutex', impl: 'etcd-concurrency', n, mode: 'in-process', clients, cs: 'mem' },
    capacity: n,
    readersWriter: true,
    client: 'ours',
    make: (client, name, who, i) => rwMutexContender(client, name, who, SESSION_TTL_S, i % writerEvery === 0),
  });
}

/** `n` worker processes, a client each, contending for our Mutex or etcd3's Lock. */
export function lockMultiProcess(
  impl: 'etcd-concurrency' | 'etcd3',
  n: number,
  cs: 'mem' | 'txn',
): BenchCase {
  return {
    bench: 'mutex',
    impl,
    n,
    mode: 'multi-process',
    clients: 'own',
    cs,
    async run(ctx: CaseContext): Promise<Outcome> {
      const workers = await ctx.workers(n);
      const name = `${ctx.prefix}lock`;
      let leftover = 0;
      try {
        await Promise.all(
          workers.map((w, i) =>
            w.request(
              {
                type: 'prepare',
                role: {
                  kind: 'lock',
                  impl,
                  endpoints: ctx.endpoints,
                  name,
                  dataKey: `${ctx.prefix}data`,
                  cs,
                  who: `p${i}`,
                  ttl: SESSION_TTL_S,
                },
              },
              'ready',
              REPLY_TIMEOUT_MS,
            ),
          ),
        );
        if (ctx.warmupMs > 0) {
          const warmUntil = now() + ctx.warmupMs;
          await Promise.all(
            workers.map((w) =>
              w.request({ type: 'go', stopAt: warmUntil }, 'done', ctx.warmupMs + REPLY_TIMEOUT_MS),
            ),
          );
        }
        const window = await openWindow(ctx.endpoints);
        const stopAt = now() + ctx.durationMs;
        const reports = await Promise.all(
          workers.map((w) => w.request({ type: 'go', stopAt }, 'done', ctx.durationMs + REPLY_TIMEOUT_MS)),
        );
        const stats = await window.close();
        return {
          window: stats,
          waits: reports.flatMap((r) => r.report.waits),
          contenders: workers.map((_, i) => `p${i}`),
          capacity: 1,
          workerCpuMs: reports.reduce((s, r) => s + r.report.cpuMs, 0),
          workerLoopDelayP99Ms: Math.max(...reports.map((r) => r.report.loopDelayP99Ms)),
          errors: reports.reduce((s, r) => s + r.report.errors, 0),
          firstError: reports.find((r) => r.report.firstError)?.report.firstError,
          // Read by summarize(), after the finally block below has swept the prefix.
          get extra() {
            return { leftover_keys: leftover };
          },
        };
      } finally {
        await Promise.allSettled(
          workers.map((w) => w.request({ type: 'cleanup' }, 'cleaned', REPLY_TIMEOUT_MS)),
        );
        leftover = await sweep(ctx.endpoints, ctx.prefix, name);
      }
    },
  };
}
