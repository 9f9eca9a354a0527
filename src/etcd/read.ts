import type { Etcd3 } from 'etcd3';
import { translateError } from './etcd-errors.js';
import { retryIdempotent } from './retry.js';
import { type KeyValue, prefixRangeEnd, toKeyValue } from './kv.js';

export interface ReadPrefixOptions {
  /** At most this many keys, oldest first (0 or absent: all). */
  limit?: number;
  /** Read as of this revision instead of now. */
  revision?: bigint;
  /** Keys only, no values. */
  keysOnly?: boolean;
}

/**
 * The keys under `prefix`, oldest (lowest create revision) first, with the revision of the read:
 * one linearizable range, retried on connection trouble, errors translated. "Oldest first, limit
 * 1" is the holder of a mutex or the leader of an election, as Go's `WithFirstCreate`.
 */
export async function readPrefix(
  client: Etcd3,
  prefix: string,
  options: ReadPrefixOptions = {},
): Promise<{ kvs: KeyValue[]; revision: bigint }> {
  try {
    const res = await retryIdempotent(() =>
      client.kv.range({
        key: Buffer.from(prefix),
        range_end: prefixRangeEnd(prefix),
        sort_target: 'Create',
        sort_order: 'Ascend',
        ...(options.limit ? { limit: options.limit } : {}),
        ...(options.revision === undefined ? {} : { revision: options.revision.toString() }),
        ...(options.keysOnly ? { keys_only: true } : {}),
      }),
    );
    return { kvs: res.kvs.map(toKeyValue), revision: BigInt(res.header.revision) };
  } catch (err) {
    throw translateError(err, client, prefix);
  }
}
