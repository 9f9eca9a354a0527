import type { Etcd3, ICompare, IRequestOp } from 'etcd3';
import { prefixRangeEnd } from '../etcd/kv.js';
import { nextSequence, priorityPrefix, sequenceGuardKey } from './layout.js';

/** Where the next item of one priority goes, and the guard that makes taking it safe. */
export interface SequenceSlot {
  /** The next free sequence number. */
  next: bigint;
  /** The highest number handed out so far, as recorded in the bookkeeping key (-1n: none). */
  recorded: bigint;
  /** The bookkeeping key must not have changed since this read (Go's compare). */
  compare: ICompare;
  /** Writes the bookkeeping key, recording `seq` as handed out. */
  record(seq: bigint): IRequestOp;
}

/**
 * Reads, in one round trip, the last key of a priority and Go's bookkeeping key `__name/<pr>`.
 *
 * Go picks the number after the last key, so once a priority runs empty it starts again at 0 and
 * reuses numbers. Ours also records the last number handed out in the bookkeeping key's value
 * (Go writes "" there and never reads it), and never goes below it: a claimed item that comes
 * back then finds its old key free and returns to its old place. Go producers still reuse
 * numbers; a put-back that finds its key taken picks a new one.
 */
export async function readSequence(client: Etcd3, name: string, priority: number): Promise<SequenceSlot> {
  const prefix = `${priorityPrefix(name, priority)}/`;
  const guard = Buffer.from(sequenceGuardKey(name, priority));
  const res = await client.kv.txn({
    compare: [],
    success: [
      {
        request_range: {
          key: Buffer.from(prefix),
          range_end: prefixRangeEnd(prefix),
          sort_target: 'Key',
          sort_order: 'Descend',
          limit: 1,
          keys_only: true,
        },
      },
      { request_range: { key: guard } },
    ],
    failure: [],
  });
  const last = res.responses[0]?.response_range.kvs[0]?.key.toString();
  const value = res.responses[1]?.response_range.kvs[0]?.value.toString() ?? '';
  const recorded = /^\d+$/.test(value) ? BigInt(value) : -1n;
  const afterLast = nextSequence(last);
  const next = afterLast > recorded ? afterLast : recorded + 1n;
  return {
    next,
    recorded,
    compare: {
      key: guard,
      target: 'Mod',
      result: 'Less',
      // At or before our read is fine; any write after it means someone else allocated.
      mod_revision: (BigInt(res.header.revision) + 1n).toString(),
    },
    record: (seq) => ({ request_put: { key: guard, value: Buffer.from(seq.toString()) } }),
  };
}
