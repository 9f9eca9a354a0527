/**
 * What `status` makes of the keys under a prefix: which are locks, elections, readers–writer
 * locks and semaphores (recognised by the key layouts that Go's concurrency package, its recipes,
 * etcdctl and this library share), and who holds, leads or waits in each. Pure: no etcd here.
 */
import type { KeyValue } from '../etcd/kv.js';
import { leaseHex } from '../errors.js';
import { decodeContender, holdersOf } from '../semaphore/contenders.js';

/** The primitives `status` recognises. A Mutex and an Election share one layout. */
export type PrimitiveKind = 'lock/election' | 'rwmutex' | 'semaphore';

/** One contender's key: a holder (leader) or a waiter. */
export interface ContenderStatus {
  key: string;
  value: string;
  /** `holder` (a Mutex's holder, an Election's leader, a reader or writer or permit holder). */
  role: 'holder' | 'waiter';
  /** 1 for the first waiter, 2 for the next …; 0 for holders. */
  position: number;
  /** Lease id, decimal, as etcd3 reports it. */
  leaseId: string;
  /** Lease id in lowercase hex, as etcdctl prints it and as the key names it. */
  lease: string;
  createRevision: bigint;
  modRevision: bigint;
  /** RWMutex only. */
  mode?: 'read' | 'write';
  /** Semaphore only: the permits it holds or waits for. */
  weight?: number;
  /** Seconds the lease has left; -1 if it has expired; undefined if etcd did not say. */
  ttl?: number;
  /** The lease's granted TTL in seconds. */
  grantedTtl?: number;
}

export interface PrimitiveStatus {
  kind: PrimitiveKind;
  name: string;
  /** Semaphore only: its permits as its bare key stores them (undefined if that key is missing). */
  permits?: number;
  /** Holders first, then waiters in queue (create revision) order. */
  contenders: ContenderStatus[];
}

const hexOf = (kv: KeyValue) => leaseHex(kv.leaseId);

/**
 * Key shapes. A segment naming the key's own lease is checked first: an RWMutex key ends in unix
 * nanoseconds (19 digits), which no 16-digit lease id equals.
 */
const SESSION_KEY = /^(.+)\/([0-9a-f]+)$/;
const SEMAPHORE_KEY = /^(.+)\/([0-9a-f]+)\/\d+$/;
const RW_KEY = /^(.+)\/(read|write)\/\d+$/;

/** Which primitive a key belongs to; undefined for keys of no known layout. */
export function classify(
  kv: KeyValue,
): { kind: PrimitiveKind; name: string; mode?: 'read' | 'write' } | undefined {
  if (kv.leaseId === '0' || kv.leaseId === '') return undefined;
  const session = SESSION_KEY.exec(kv.key);
  if (session && session[2] === hexOf(kv)) return { kind: 'lock/election', name: session[1]! };
  const sem = SEMAPHORE_KEY.exec(kv.key);
  if (sem && sem[2] === hexOf(kv)) return { kind: 'semaphore', name: sem[1]! };
  const rw = RW_KEY.exec(kv.key);
  if (rw) return { kind: 'rwmutex', name: rw[1]!, mode: rw[2] as 'read' | 'write' };
  return undefined;
}

/**
 * Groups `kvs` (any order) into primitives, sorted by name; `permitsOf(name)` reads a
 * semaphore's bare key. Returns also how many keys matched no layout.
 */
export function groupPrimitives(
  kvs: readonly KeyValue[],
  permitsOf: (name: string) => number | undefined,
): { primitives: PrimitiveStatus[]; otherKeys: number } {
  const groups = new Map<
    string,
    { kind: PrimitiveKind; name: string; kvs: { kv: KeyValue; mode?: 'read' | 'write' }[] }
  >();
  let otherKeys = 0;
  for (const kv of kvs) {
    const found = classify(kv);
    if (!found) {
      otherKeys++;
      continue;
    }
    const id = `${found.kind}\0${found.name}`;
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { kind: found.kind, name: found.name, kvs: [] }));
    group.kvs.push({ kv, ...(found.mode ? { mode: found.mode } : {}) });
  }
  const primitives = [...groups.values()].map((group) => {
    const queue = group.kvs.sort((a, b) => compare(a.kv.createRevision, b.kv.createRevision));
    if (group.kind === 'semaphore') {
      const permits = permitsOf(group.name);
      const holders =
        permits === undefined
          ? 0
          : holdersOf(
              queue.map((q) => q.kv),
              permits,
            ).length;
      return {
        kind: group.kind,
        name: group.name,
        ...(permits === undefined ? {} : { permits }),
        contenders: queue.map(({ kv }, i) => {
          // Without the bare key, the weight is what the contender asked for.
          const record = decodeContender(kv, permits ?? Number.MAX_SAFE_INTEGER);
          return { ...contender(kv, i, holders), value: record.value, weight: record.weight };
        }),
      };
    }
    const holders =
      group.kind === 'rwmutex'
        ? queue[0]?.mode === 'write'
          ? 1
          : firstIndex(queue, (q) => q.mode === 'write')
        : 1;
    return {
      kind: group.kind,
      name: group.name,
      contenders: queue.map(({ kv, mode }, i) => ({
        ...contender(kv, i, holders),
        ...(mode ? { mode } : {}),
      })),
    };
  });
  primitives.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.kind < b.kind ? -1 : 1));
  return { primitives, otherKeys };
}

function contender(kv: KeyValue, index: number, holders: number): ContenderStatus {
  const holds = index < holders;
  return {
    key: kv.key,
    value: kv.value.toString(),
    role: holds ? 'holder' : 'waiter',
    position: holds ? 0 : index - holders + 1,
    leaseId: kv.leaseId,
    lease: hexOf(kv),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
  };
}

function firstIndex<T>(items: T[], predicate: (item: T) => boolean): number {
  const i = items.findIndex(predicate);
  return i < 0 ? items.length : i;
}

function compare(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
