import type { Etcd3, ICompare, IRequestOp, ITxnRequest, ITxnResponse } from 'etcd3';
import { toKeyValue } from './kv.js';
import type { TxnOp, TxnOpResult, TxnRequest, TxnResult } from './txn-types.js';

/**
 * The library's transaction values in etcd3's shapes and back: for txn()'s fallback to
 * `client.kv.txn`, and for an etcd3 `defaultCallOptions` factory that reads a call's `params`.
 */

/** A transaction through etcd3's own `client.kv.txn` (txn()'s fallback), in the codec's terms. */
export async function viaEtcd3(client: Etcd3, req: TxnRequest): Promise<TxnResult> {
  return fromEtcd3Response(await client.kv.txn(toEtcd3Request(req)));
}

const COMPARE_OPERAND = {
  Version: 'version',
  Create: 'create_revision',
  Mod: 'mod_revision',
  Value: 'value',
  Lease: 'lease',
} as const;

/** The request as etcd3's `client.kv.txn` takes it (int64 as decimal strings). */
export function toEtcd3Request(req: TxnRequest): ITxnRequest {
  return {
    compare: req.compare.map((c): ICompare => ({
      key: c.key,
      target: c.target,
      result: c.result,
      [COMPARE_OPERAND[c.target]]: Buffer.isBuffer(c.operand) ? c.operand : c.operand.toString(),
    })),
    success: req.success.map(toEtcd3Op),
    failure: req.failure.map(toEtcd3Op),
  };
}

function toEtcd3Op(op: TxnOp): IRequestOp {
  switch (op.kind) {
    case 'range':
      return {
        request_range: {
          key: op.key,
          ...(op.rangeEnd ? { range_end: op.rangeEnd } : {}),
          ...(op.limit ? { limit: op.limit.toString() } : {}),
          ...(op.sortOrder ? { sort_order: op.sortOrder } : {}),
          ...(op.sortTarget ? { sort_target: op.sortTarget } : {}),
          ...(op.keysOnly ? { keys_only: true } : {}),
        },
      };
    case 'put':
      return {
        request_put: { key: op.key, value: op.value, ...(op.lease ? { lease: op.lease.toString() } : {}) },
      };
    case 'deleteRange':
      return { request_delete_range: { key: op.key, ...(op.rangeEnd ? { range_end: op.rangeEnd } : {}) } };
  }
}

/** etcd3's answer in the codec's terms. */
export function fromEtcd3Response(res: ITxnResponse): TxnResult {
  return {
    revision: BigInt(res.header.revision),
    succeeded: res.succeeded,
    responses: res.responses.map((op): TxnOpResult => {
      if (op.response_range) {
        const r = op.response_range;
        return { kind: 'range', kvs: r.kvs.map(toKeyValue), more: r.more, count: BigInt(r.count || '0') };
      }
      if (op.response_delete_range) {
        return { kind: 'deleteRange', deleted: BigInt(op.response_delete_range.deleted || '0') };
      }
      if (op.response_put) return { kind: 'put' };
      return { kind: 'txn' };
    }),
  };
}
