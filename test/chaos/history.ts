/**
 * etcd's own record of a run: every put and delete under the run's root prefix, replayed after the
 * run with a watch from the run's first revision (the cluster runs without auto-compaction, so the
 * whole history is still there). This is plain etcd3, not the library under test: the checker must
 * not trust the code it judges.
 */
import { performance } from 'node:perf_hooks';
import type { Etcd3, IEvent, Watcher } from 'etcd3';
import type { HistoryEvent, Millis } from './types.js';

const now = (): Millis => performance.timeOrigin + performance.now();

function toHistoryEvent(e: IEvent, created: Map<string, { createRev: bigint; lease: string }>): HistoryEvent {
  const key = e.kv.key.toString();
  const rev = BigInt(e.kv.mod_revision);
  if (e.type === 'Put') {
    const createRev = BigInt(e.kv.create_revision);
    const lease = e.kv.lease;
    created.set(key, { createRev, lease });
    return { rev, type: 'put', key, value: e.kv.value.toString(), createRev, lease };
  }
  const was = created.get(key);
  created.delete(key);
  return { rev, type: 'delete', key, value: '', createRev: was?.createRev ?? 0n, lease: was?.lease ?? '0' };
}

/**
 * Every event under `prefix` from `fromRev` up to and including a sentinel put written now, in
 * revision order. Throws if the replay does not reach the sentinel within `timeoutMs`.
 */
export async function replayHistory(
  client: Etcd3,
  prefix: string,
  fromRev: bigint,
  timeoutMs = 30_000,
): Promise<HistoryEvent[]> {
  const sentinel = `${prefix}~end`;
  const put = await client.put(sentinel).value('end').exec();
  const endRev = BigInt(put.header.revision);
  const created = new Map<string, { createRev: bigint; lease: string }>();
  const events: HistoryEvent[] = [];
  let watcher: Watcher | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`history replay of ${prefix} did not reach revision ${endRev} in ${timeoutMs} ms`));
      }, timeoutMs);
      client
        .watch()
        .prefix(prefix)
        .startRevision(fromRev.toString())
        .create()
        .then((w) => {
          watcher = w;
          w.on('data', (res) => {
            for (const e of res.events) {
              const h = toHistoryEvent(e, created);
              if (h.key === sentinel) {
                if (h.rev >= endRev) {
                  clearTimeout(timer);
                  resolve();
                  return;
                }
                continue;
              }
              events.push(h);
            }
          });
          w.on('error', (err) => {
            clearTimeout(timer);
            reject(err);
          });
        })
        .catch((err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        });
    });
  } finally {
    await watcher?.cancel().catch(() => undefined);
  }
  // etcd sends events in revision order; check rather than assume, the checker depends on it.
  for (let i = 1; i < events.length; i++) {
    if (events[i]!.rev < events[i - 1]!.rev)
      throw new Error(`history out of order at revision ${events[i]!.rev}`);
  }
  return events;
}

/**
 * When each revision under `prefix` became visible to a watcher in this process, during the run:
 * the clock that turns etcd revisions into handoff times. Only timing comes from here, never
 * correctness (a reconnecting watch reports late, which only makes stalls look shorter).
 */
export interface RevisionClock {
  times: Map<bigint, Millis>;
  stop(): Promise<void>;
}

export async function startRevisionClock(
  client: Etcd3,
  prefix: string,
  fromRev: bigint,
): Promise<RevisionClock> {
  const times = new Map<bigint, Millis>();
  const watcher = await client.watch().prefix(prefix).startRevision(fromRev.toString()).create();
  watcher.on('data', (res) => {
    const t = now();
    for (const e of res.events) {
      const rev = BigInt(e.kv.mod_revision);
      if (!times.has(rev)) times.set(rev, t);
    }
  });
  // Errors (a member restarting under the watch) are retried by etcd3; nothing to do here.
  watcher.on('error', () => undefined);
  return {
    times,
    async stop() {
      await watcher.cancel().catch(() => undefined);
    },
  };
}
