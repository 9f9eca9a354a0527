import type { Etcd3 } from 'etcd3';
import { readPrefix } from '../etcd/read.js';
import type { KeyValue } from '../etcd/watch.js';
import { NoLeaderError } from '../errors.js';

/** The leader of an election as etcd stores it: the oldest key under the election's prefix. */
export interface LeaderInfo {
  /** The leader's key, `name/<lease id in hex>`. */
  key: string;
  /** The value the leader campaigned with or last proclaimed (UTF-8). */
  value: string;
  /** The key's create revision: the leader's term. It only grows from one leader to the next. */
  createRevision: bigint;
  /** The revision of the leader's last campaign or proclamation. */
  modRevision: bigint;
  /** The leader's lease id, decimal as etcd3 gives it. */
  leaseId: string;
}

export function toLeaderInfo(kv: KeyValue): LeaderInfo {
  return {
    key: kv.key,
    value: kv.value.toString(),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    leaseId: kv.leaseId,
  };
}

/** Reads the current leader with one linearizable range (oldest key, limit 1), as Go's `Leader()`. */
export async function readLeader(client: Etcd3, name: string, prefix: string): Promise<LeaderInfo> {
  const first = (await readPrefix(client, prefix, { limit: 1 })).kvs[0];
  if (!first) {
    throw new NoLeaderError(
      `Election "${name}" has no leader: no candidate key exists under "${prefix}"; campaign() to become one`,
    );
  }
  return toLeaderInfo(first);
}
