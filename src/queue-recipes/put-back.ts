import type { Etcd3, ICompare, IRequestOp } from 'etcd3';
import { translateError } from '../etcd/etcd-errors.js';
import { uniqueKey } from '../queue/keys.js';
import type { KeyValue } from '../etcd/watch.js';
import { toKeyValue } from '../etcd/watch.js';
import { itemsPrefix, priorityOf, sequentialKey, type ClaimKeys } from './layout.js';
import { readSequence } from './sequence.js';

/** The sequence number at the end of a PriorityQueue key. */
function sequenceOf(itemKey: string): bigint {
  return BigInt(itemKey.slice(itemKey.lastIndexOf('/') + 1));
}

/** What must still hold for a put-back to go ahead, checked by etcd and re-checked on failure. */
export interface PutBackGuard {
  /** Compares on the claim's marker (gone, or still ours). */
  compare: ICompare[];
  /** The same condition, evaluated on a read of the marker (undefined: absent). */
  holds(marker: KeyValue | undefined): boolean;
}

const mod = (key: string, result: 'Equal' | 'Less', rev: bigint): ICompare => ({
  key: Buffer.from(key),
  target: 'Mod',
  result,
  mod_revision: rev.toString(),
});
const absent = (key: string): ICompare => ({
  key: Buffer.from(key),
  target: 'Version',
  result: 'Equal',
  version: 0,
});

/**
 * Moves a claimed item back into its queue, in one transaction that also deletes the claim's
 * record (and marker), so it happens once whoever races for it: the record must still be the
 * one read (`record.modRevision`) and the guard must hold.
 *
 * The item goes back under its own key when that key is free. In a PriorityQueue this returns
 * it to its old place (keys sort by priority, then sequence), and the transaction also writes
 * Go's bookkeeping key of that priority, so a producer that picked the same sequence number in
 * the meantime retries instead of overwriting it. In a Queue, order is by revision and no write
 * can restore an old one: the item re-enters at the back, for Go's consumers and ours alike.
 * If its key was reused meanwhile, the item gets a fresh key (end of its priority / the queue).
 *
 * Resolves true if this call put it back, false if the record is gone or the guard fails
 * (someone else did it, or the claim was completed).
 */
export async function putBack(
  client: Etcd3,
  name: string,
  keys: ClaimKeys,
  record: KeyValue,
  guard: PutBackGuard,
): Promise<boolean> {
  const priority = priorityOf(name, keys.itemKey);
  const base: ICompare[] = [...guard.compare, mod(keys.record, 'Equal', record.modRevision)];
  const clear: IRequestOp[] = [
    { request_delete_range: { key: Buffer.from(keys.record) } },
    { request_delete_range: { key: Buffer.from(keys.marker) } },
  ];
  const check: IRequestOp[] = [
    { request_range: { key: Buffer.from(keys.record) } },
    { request_range: { key: Buffer.from(keys.marker) } },
  ];
  const put = (key: string): IRequestOp => ({ request_put: { key: Buffer.from(key), value: record.value } });
  try {
    for (let round = 0; round < 8; round++) {
      let compare: ICompare[];
      let success: IRequestOp[];
      if (priority === undefined) {
        // A Queue: its own key if free, else a fresh one (order is by revision either way).
        const key = round === 0 ? keys.itemKey : uniqueKey(itemsPrefix(name));
        compare = [...base, absent(key)];
        success = [...clear, put(key)];
      } else {
        const slot = await readSequence(client, name, priority);
        const own = sequenceOf(keys.itemKey);
        if (round === 0) {
          // Its own key if free; recording its number keeps our producers from reusing it.
          compare = [...base, absent(keys.itemKey), slot.compare];
          success = [...clear, put(keys.itemKey), slot.record(own > slot.recorded ? own : slot.recorded)];
        } else {
          compare = [...base, slot.compare];
          success = [...clear, put(sequentialKey(name, priority, slot.next)), slot.record(slot.next)];
        }
      }
      const res = await client.kv.txn({ compare, success, failure: check });
      if (res.succeeded) return true;
      const rec = res.responses[0]?.response_range.kvs[0];
      const marker = res.responses[1]?.response_range.kvs[0];
      if (!rec || BigInt(rec.mod_revision) !== record.modRevision) return false;
      if (!guard.holds(marker ? toKeyValue(marker) : undefined)) return false;
      // The record is still to be put back: the item key was taken, or a producer raced us.
    }
  } catch (err) {
    throw translateError(err, client, keys.itemKey);
  }
  throw new Error(`could not put item "${keys.itemKey}" back into queue "${name}" after 8 tries`);
}
