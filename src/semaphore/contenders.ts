import type { KeyValue } from '../etcd/watch.js';

/** A contender's record, stored as JSON in its key: `{"weight":2,"value":"worker-1"}`. */
export interface ContenderRecord {
  weight: number;
  value: string;
}

/** A holder of permits, as {@link Semaphore.holders$} reports it. */
export interface SemaphoreHolder {
  /** The contender's key: `name/<lease id in hex>/<nonce>`. */
  key: string;
  /** The value given to `acquire()` (or the Semaphore's), for humans and tools. */
  value: string;
  /** How many permits it holds. */
  weight: number;
  /** Its session's lease id, decimal. */
  leaseId: string;
  /** Its key's create revision: its place in the queue and its fencing token. */
  createRevision: bigint;
}

export function encodeContender(record: ContenderRecord): string {
  return JSON.stringify(record);
}

const decoded = new WeakMap<KeyValue, ContenderRecord>();

/**
 * Reads a contender's record. A key under the prefix that is not a well-formed contender (written
 * by hand or by another primitive sharing the name) counts as taking every permit, so that a
 * foreign key can block the semaphore but never oversubscribe it; weights are capped at `permits`.
 */
export function decodeContender(kv: KeyValue, permits: number): ContenderRecord {
  let record = decoded.get(kv);
  if (!record) {
    record = { weight: permits, value: kv.value.toString() };
    try {
      const parsed = JSON.parse(kv.value.toString()) as Partial<ContenderRecord> | null;
      if (parsed && Number.isSafeInteger(parsed.weight) && parsed.weight! >= 1) {
        record = { weight: parsed.weight!, value: typeof parsed.value === 'string' ? parsed.value : '' };
      }
    } catch {
      // not JSON: keep the conservative record
    }
    decoded.set(kv, record);
  }
  return record.weight > permits ? { ...record, weight: permits } : record;
}

/**
 * The holders among `contenders` (oldest first): the longest prefix of the queue whose weights
 * fit in `permits`. Contender i holds iff the weights of 0..i sum to at most `permits`, and the
 * keys ahead of a contender only ever go away, so a holder stays a holder until it leaves.
 */
export function holdersOf(contenders: Iterable<KeyValue>, permits: number): SemaphoreHolder[] {
  const holders: SemaphoreHolder[] = [];
  let used = 0;
  for (const kv of contenders) {
    const { weight, value } = decodeContender(kv, permits);
    used += weight;
    if (used > permits) break;
    holders.push({ key: kv.key, value, weight, leaseId: kv.leaseId, createRevision: kv.createRevision });
  }
  return holders;
}
