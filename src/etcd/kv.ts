import type { IKeyValue } from 'etcd3';

/** One key-value as a watch event or a read reports it. */
export interface KeyValue {
  key: string;
  value: Buffer;
  createRevision: bigint;
  modRevision: bigint;
  /** Lease id, decimal; '0' when the key has no lease. */
  leaseId: string;
}

/** A change of one key. Deletes carry the key and `modRevision` (the delete's revision) only. */
export interface WatchEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
}

/** Events of one watch response, all at revisions ≤ `revision`, in revision order. */
export interface WatchBatch {
  revision: bigint;
  events: WatchEvent[];
}

/** The watch's start revision was compacted: re-read the state, then watch again from the read. */
export class WatchCompactedError extends Error {
  constructor(readonly compactRevision: bigint) {
    super(
      `watch start revision was compacted (compact revision ${compactRevision}); re-read and watch again`,
    );
    this.name = 'WatchCompactedError';
  }
}

/** Converts etcd3's raw key-value (int64 as decimal strings) to ours. */
export function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value,
    createRevision: BigInt(kv.create_revision || '0'),
    modRevision: BigInt(kv.mod_revision || '0'),
    leaseId: kv.lease || '0',
  };
}

/** The end of the key range of every key starting with `prefix` (etcd's prefix range_end). */
export function prefixRangeEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
