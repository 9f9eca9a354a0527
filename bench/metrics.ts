/**
 * etcd's own Prometheus counters, read from `/metrics` at each client URL before and after a
 * case: what the server saw, whatever the client library claims. Summed over the members.
 */

/** Counters of one scrape (or the difference of two). */
export interface EtcdCounters {
  /** gRPC messages received by method: one per unary call, one per stream message (keep-alives, watch creates). */
  received: Record<string, number>;
  /** gRPC messages sent by method: for `Watch`, one per watch response (events are batched in them). */
  sent: Record<string, number>;
  /** Watch events sent to watchers (`etcd_debugging_mvcc_events_total`). */
  watchEvents: number;
  /** Server CPU seconds (`process_cpu_seconds_total`, 10 ms resolution). */
  cpuSeconds: number;
  /** Gauges at scrape time (not differenced): open watchers and keys. */
  watchers: number;
  keys: number;
}

/** Unary RPCs that a lock operation costs (the stream messages are reported apart). */
export const UNARY_METHODS = [
  'Range',
  'Txn',
  'Put',
  'DeleteRange',
  'LeaseGrant',
  'LeaseRevoke',
  'LeaseTimeToLive',
  'LeaseLeases',
] as const;

/** `127.0.0.1:2379` or `http://127.0.0.1:2379` → the metrics URL. */
export function metricsUrl(endpoint: string): string {
  const base = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`;
  return `${base.replace(/\/+$/, '')}/metrics`;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/;

export function parseMetrics(text: string): EtcdCounters {
  const counters: EtcdCounters = {
    received: {},
    sent: {},
    watchEvents: 0,
    cpuSeconds: 0,
    watchers: 0,
    keys: 0,
  };
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const [, name, labels = '', raw] = m;
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    switch (name) {
      case 'grpc_server_msg_received_total': {
        const method = /grpc_method="([^"]+)"/.exec(labels)?.[1];
        if (method) counters.received[method] = (counters.received[method] ?? 0) + value;
        break;
      }
      case 'grpc_server_msg_sent_total': {
        const method = /grpc_method="([^"]+)"/.exec(labels)?.[1];
        if (method) counters.sent[method] = (counters.sent[method] ?? 0) + value;
        break;
      }
      case 'etcd_debugging_mvcc_events_total':
        counters.watchEvents += value;
        break;
      case 'process_cpu_seconds_total':
        counters.cpuSeconds += value;
        break;
      case 'etcd_debugging_mvcc_watcher_total':
        counters.watchers += value;
        break;
      case 'etcd_debugging_mvcc_keys_total':
        counters.keys += value;
        break;
    }
  }
  return counters;
}

/** Reads and sums every endpoint's counters; undefined if any endpoint does not serve them. */
export async function scrape(endpoints: readonly string[]): Promise<EtcdCounters | undefined> {
  try {
    const all = await Promise.all(
      endpoints.map(async (e) => {
        const res = await fetch(metricsUrl(e), { signal: AbortSignal.timeout(5000) });
        if (!res.ok) throw new Error(`${res.status}`);
        return parseMetrics(await res.text());
      }),
    );
    return all.reduce((a, b) => combine(a, b, 1));
  } catch {
    return undefined;
  }
}

/** `after − before` for the counters; the gauges are `after`'s. */
export function since(after: EtcdCounters, before: EtcdCounters): EtcdCounters {
  const diff = combine(after, before, -1);
  return { ...diff, watchers: after.watchers, keys: after.keys };
}

function combine(a: EtcdCounters, b: EtcdCounters, sign: 1 | -1): EtcdCounters {
  const add = (x: Record<string, number>, y: Record<string, number>) => {
    const out: Record<string, number> = { ...x };
    for (const [k, v] of Object.entries(y)) out[k] = (out[k] ?? 0) + sign * v;
    return out;
  };
  return {
    received: add(a.received, b.received),
    sent: add(a.sent, b.sent),
    watchEvents: a.watchEvents + sign * b.watchEvents,
    cpuSeconds: a.cpuSeconds + sign * b.cpuSeconds,
    watchers: a.watchers + sign * b.watchers,
    keys: a.keys + sign * b.keys,
  };
}
