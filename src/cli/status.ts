import type { Etcd3 } from 'etcd3';
import { translateError } from '../etcd/etcd-errors.js';
import { type KeyValue, prefixRangeEnd, toKeyValue } from '../etcd/kv.js';
import { connect, type GlobalOptions } from './connection.js';
import { createOutput, toJson, type Output } from './output.js';
import { groupPrimitives, type ContenderStatus, type PrimitiveStatus } from './status-model.js';

/** What `status --json` prints (one object, one line; bigints as decimal strings). */
export interface StatusReport {
  prefix: string;
  /** The etcd revision the keys were read at: ages count back from it. */
  revision: bigint;
  primitives: PrimitiveStatus[];
  /** Keys under the prefix that are no lock, election, RWMutex or semaphore contender. */
  otherKeys: number;
}

/** How many LeaseTimeToLive calls run at once. */
const LEASE_LOOKUPS_IN_FLIGHT = 16;
/** Longest value shown in the table (`--json` has them whole). */
const VALUE_WIDTH = 40;

/**
 * `etcd-concurrency status [prefix]`: every lock, election, RWMutex and semaphore under `prefix`
 * (all keys by default) with its holder or leader first, then its waiters in queue order, and for
 * each key its lease, the TTL left, its age in revisions and its value. What to run when "the
 * job is stuck": it names the lease (and the value, usually a host and pid) everyone waits for.
 */
export async function statusCommand(prefix: string, globals: GlobalOptions): Promise<number> {
  const out = createOutput(globals.json === true);
  const client = await connect(globals, out);
  try {
    const report = await readStatus(client, prefix);
    if (out.json) process.stdout.write(`${toJson({ event: 'status', ...report })}\n`);
    else printTable(report, out);
    return 0;
  } finally {
    client.close();
  }
}

/** Reads the keys under `prefix`, the semaphores' permits and every lease's TTL. */
export async function readStatus(client: Etcd3, prefix: string): Promise<StatusReport> {
  const { kvs, revision } = await readAll(client, prefix);
  const byKey = new Map(kvs.map((kv) => [kv.key, kv]));
  const permits = new Map<string, number | undefined>();
  // A semaphore's bare key lies outside `name/`, so under a prefix like `pools/gpu/` it is read apart.
  const { primitives: first } = groupPrimitives(kvs, () => undefined);
  const missing = first.filter((p) => p.kind === 'semaphore' && !byKey.has(p.name)).map((p) => p.name);
  await Promise.all(
    missing.map(async (name) => {
      const res = await client
        .get(name)
        .exec()
        .catch(() => undefined);
      const kv = res?.kvs[0];
      if (kv) byKey.set(name, toKeyValue(kv));
    }),
  );
  for (const p of first) {
    if (p.kind !== 'semaphore') continue;
    const stored = byKey.get(p.name)?.value.toString();
    const n = stored === undefined ? NaN : Number(stored);
    permits.set(p.name, Number.isSafeInteger(n) && n >= 1 ? n : undefined);
  }
  const { primitives, otherKeys } = groupPrimitives(kvs, (name) => permits.get(name));
  const semaphoreKeys = primitives.filter(
    (p) => p.kind === 'semaphore' && kvs.some((kv) => kv.key === p.name),
  );
  await addLeaseTtls(client, primitives);
  return { prefix, revision, primitives, otherKeys: otherKeys - semaphoreKeys.length };
}

async function readAll(client: Etcd3, prefix: string): Promise<{ kvs: KeyValue[]; revision: bigint }> {
  // etcd takes an empty key as no key: the whole keyspace is the range from "\0" to "\0".
  const all = prefix === '';
  try {
    const res = await client.kv.range({
      key: all ? Buffer.from([0]) : Buffer.from(prefix),
      range_end: all ? Buffer.from([0]) : prefixRangeEnd(prefix),
      sort_target: 'Create',
      sort_order: 'Ascend',
    });
    return { kvs: res.kvs.map(toKeyValue), revision: BigInt(res.header.revision) };
  } catch (err) {
    throw translateError(err, client, prefix);
  }
}

async function addLeaseTtls(client: Etcd3, primitives: PrimitiveStatus[]): Promise<void> {
  const contenders = primitives.flatMap((p) => p.contenders);
  const leases = [...new Set(contenders.map((c) => c.leaseId))];
  const ttls = new Map<string, { ttl: number; granted: number }>();
  for (let i = 0; i < leases.length; i += LEASE_LOOKUPS_IN_FLIGHT) {
    await Promise.all(
      leases.slice(i, i + LEASE_LOOKUPS_IN_FLIGHT).map(async (id) => {
        try {
          const res = await client.leaseClient.leaseTimeToLive({ ID: id, keys: false });
          ttls.set(id, { ttl: Number(res.TTL), granted: Number(res.grantedTTL) });
        } catch {
          // not allowed or not answered: the TTL column then shows "?"
        }
      }),
    );
  }
  for (const c of contenders) {
    const found = ttls.get(c.leaseId);
    if (found) {
      c.ttl = found.ttl;
      c.grantedTtl = found.granted;
    }
  }
}

function printTable(report: StatusReport, out: Output): void {
  const where = report.prefix === '' ? 'in etcd' : `under "${report.prefix}"`;
  if (report.primitives.length === 0) {
    out.event('status', `no locks, elections or semaphores ${where}${others(report)}`);
    return;
  }
  const header = ['KIND', 'NAME', 'ROLE', 'LEASE', 'TTL', 'AGE', 'WEIGHT', 'VALUE'];
  const rows = report.primitives.flatMap((p) => p.contenders.map((c) => row(p, c, report.revision)));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const text = [line(header), ...rows.map(line)].join('\n');
  out.event(
    'status',
    `${text}\n(at revision ${report.revision}; AGE counts revisions since the key was created)${others(report)}`,
  );
}

function others(report: StatusReport): string {
  if (report.otherKeys === 0) return '';
  return `\n${report.otherKeys} other key${report.otherKeys === 1 ? '' : 's'} ${report.prefix === '' ? 'in etcd' : 'under the prefix'} (not a lock, election or semaphore)`;
}

function row(p: PrimitiveStatus, c: ContenderStatus, revision: bigint): string[] {
  const role = c.role === 'holder' ? 'holder' : `waiter ${c.position}`;
  const weight = p.kind === 'semaphore' ? `${c.weight ?? '?'} of ${p.permits ?? '?'}` : '';
  return [
    p.kind,
    p.name,
    c.mode ? `${role} (${c.mode})` : role,
    c.lease,
    c.ttl === undefined ? '?' : c.ttl < 0 ? 'expired' : `${c.ttl}s/${c.grantedTtl}s`,
    `${revision - c.createRevision} revs`,
    weight,
    printable(c.value),
  ];
}

/** A value fit for one table cell: control characters escaped, long ones cut. */
function printable(value: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = /[\u0000-\u001f\u007f]/.test(value) ? JSON.stringify(value).slice(1, -1) : value;
  return escaped.length > VALUE_WIDTH ? `${escaped.slice(0, VALUE_WIDTH - 1)}…` : escaped;
}
