import type { KeyValue } from './kv.js';

/**
 * etcd's `KV/Txn` messages (etcdserverpb.TxnRequest / TxnResponse of etcd's rpc.proto and
 * kv.proto) as the library's typed values: int64 fields as BigInt, keys and values as Buffers,
 * enums by their proto names. Only the fields the library uses; the wire format is in
 * ./txn-encode.ts and ./txn-decode.ts.
 */

/** `Compare.CompareTarget`. */
export type CompareTarget = 'Version' | 'Create' | 'Mod' | 'Value' | 'Lease';
/** `Compare.CompareResult`. */
export type CompareResult = 'Equal' | 'Greater' | 'Less' | 'NotEqual';

/** One comparison: `target(key) result operand` (a number for all targets but `Value`). */
export interface TxnCompare {
  key: Buffer;
  target: CompareTarget;
  result: CompareResult;
  /** The version, create or mod revision or lease id to compare with; a Buffer for `Value`. */
  operand: bigint | Buffer;
}

/** `RangeRequest.SortTarget` and `SortOrder`. */
export type SortTarget = 'Key' | 'Version' | 'Create' | 'Mod' | 'Value';
export type SortOrder = 'None' | 'Ascend' | 'Descend';

/** One operation of a transaction branch (a `RequestOp`). */
export type TxnOp =
  | {
      kind: 'range';
      key: Buffer;
      rangeEnd?: Buffer | undefined;
      /** 0: no limit. */
      limit?: bigint | undefined;
      sortOrder?: SortOrder | undefined;
      sortTarget?: SortTarget | undefined;
      keysOnly?: boolean | undefined;
    }
  | { kind: 'put'; key: Buffer; value: Buffer; lease?: bigint | undefined }
  | { kind: 'deleteRange'; key: Buffer; rangeEnd?: Buffer | undefined };

/** A transaction: if every `compare` holds, `success` runs, else `failure`. */
export interface TxnRequest {
  compare: readonly TxnCompare[];
  success: readonly TxnOp[];
  failure: readonly TxnOp[];
}

/** What one operation of the branch that ran answered (a `ResponseOp`). */
export type TxnOpResult =
  | { kind: 'range'; kvs: KeyValue[]; more: boolean; count: bigint }
  | { kind: 'put' }
  | { kind: 'deleteRange'; deleted: bigint }
  /** A nested transaction's answer: the library sends none, so only its kind is read. */
  | { kind: 'txn' };

/** A `TxnResponse`: the header's revision, which branch ran, the answers of its operations. */
export interface TxnResult {
  revision: bigint;
  succeeded: boolean;
  responses: TxnOpResult[];
}

/** Protobuf wire types. */
export const VARINT = 0;
export const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
export const FIXED32 = 5;
