import type { KeyValue } from './kv.js';
import { FIXED32, FIXED64, LENGTH_DELIMITED, type TxnOpResult, type TxnResult, VARINT } from './txn-types.js';

/**
 * The protobuf decoding of a `TxnResponse`, written by hand.
 *
 * etcd3 goes through @grpc/proto-loader: it decodes every reply into protobufjs messages, then
 * converts them to plain objects with int64 fields as decimal strings (through `Long`), which the
 * library turned into BigInts again. This reads the bytes straight into the library's values: the
 * header's revision, `succeeded`, and per operation its kind and, for a range, the key-values
 * ({@link KeyValue}; a value is a view of the reply's buffer, as protobufjs gives it). Every other
 * field (the other header fields, versions, a put's prev_kv, a nested transaction's contents) is
 * skipped, as protobuf requires of unknown fields.
 */
export function decodeTxnResponse(buf: Buffer): TxnResult {
  const r = new Reader(buf);
  const end = buf.length;
  const res: TxnResult = { revision: 0n, succeeded: false, responses: [] };
  while (r.pos < end) {
    const tag = r.varint(end);
    if (tag === HEADER) {
      const e = r.delimited(end);
      res.revision = headerRevision(r, e);
    } else if (tag === SUCCEEDED) res.succeeded = r.varint(end) !== 0;
    else if (tag === RESPONSES) {
      const e = r.delimited(end);
      res.responses.push(responseOp(r, e));
    } else r.skip(tag, end);
  }
  return res;
}

/** Raised for bytes that are no valid protobuf message: never expected from etcd. */
export class TxnDecodeError extends Error {
  constructor(what: string) {
    super(`Cannot decode etcd's TxnResponse: ${what}`);
    this.name = 'TxnDecodeError';
  }
}

/** A field's tag as read: field number << 3 | wire type. */
const tag = (field: number, wireType: number) => field * 8 + wireType;

// TxnResponse, and the header of every response
const HEADER = tag(1, LENGTH_DELIMITED);
const SUCCEEDED = tag(2, VARINT);
const RESPONSES = tag(3, LENGTH_DELIMITED);
const HEADER_REVISION = tag(3, VARINT);
// ResponseOp's oneof
const RESPONSE_RANGE = tag(1, LENGTH_DELIMITED);
const RESPONSE_PUT = tag(2, LENGTH_DELIMITED);
const RESPONSE_DELETE_RANGE = tag(3, LENGTH_DELIMITED);
const RESPONSE_TXN = tag(4, LENGTH_DELIMITED);
// RangeResponse
const RANGE_KVS = tag(2, LENGTH_DELIMITED);
const RANGE_MORE = tag(3, VARINT);
const RANGE_COUNT = tag(4, VARINT);
// DeleteRangeResponse
const DELETE_RANGE_DELETED = tag(2, VARINT);
// mvccpb.KeyValue
const KV_KEY = tag(1, LENGTH_DELIMITED);
const KV_CREATE_REVISION = tag(2, VARINT);
const KV_MOD_REVISION = tag(3, VARINT);
const KV_VALUE = tag(5, LENGTH_DELIMITED);
const KV_LEASE = tag(6, VARINT);

const EMPTY = Buffer.alloc(0);

/**
 * One cursor over the reply: each message is read up to its end (`end`, exclusive), and must end
 * exactly there. Every read is bounded by `end`, so no field reaches into the next one.
 */
class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  /** A varint of up to 56 bits as a number (tags, lengths, enums, bools). */
  varint(end: number): number {
    const buf = this.buf;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= end) throw new TxnDecodeError('truncated varint');
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 0x80;
    }
    throw new TxnDecodeError('varint too long for a tag, a length or an enum');
  }

  /** An int64 varint (a negative value is 10 bytes). */
  int64(end: number): bigint {
    const buf = this.buf;
    const start = this.pos;
    let value = 0;
    let scale = 1;
    // Up to 7 bytes (49 bits) add up exactly in a double: revisions and counts stay there.
    for (let i = 0; i < 7; i++) {
      if (this.pos >= end) throw new TxnDecodeError('truncated varint');
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return BigInt(value);
      scale *= 0x80;
    }
    this.pos = start;
    let big = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= end) throw new TxnDecodeError('truncated varint');
      const b = buf[this.pos++]!;
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asIntN(64, big);
    }
    throw new TxnDecodeError('varint longer than 10 bytes');
  }

  /** Reads a length-delimited field's length; returns where its contents end (they start at `pos`). */
  delimited(end: number): number {
    const length = this.varint(end);
    if (this.pos + length > end) throw new TxnDecodeError('a field longer than its message');
    return this.pos + length;
  }

  /** Skips the contents of a field the decoder does not read. */
  skip(tagValue: number, end: number): void {
    switch (tagValue & 7) {
      case VARINT:
        while (this.pos < end && this.buf[this.pos]! >= 0x80) this.pos++;
        this.pos++;
        break;
      case FIXED64:
        this.pos += 8;
        break;
      case LENGTH_DELIMITED:
        this.pos = this.delimited(end);
        break;
      case FIXED32:
        this.pos += 4;
        break;
      default:
        throw new TxnDecodeError(`unsupported wire type ${tagValue & 7}`);
    }
    if (this.pos > end) throw new TxnDecodeError('a field longer than its message');
  }

  /** After a message's last field: it must end exactly at `end`. */
  finish(end: number): void {
    if (this.pos !== end) throw new TxnDecodeError('a field longer than its message');
  }
}

function headerRevision(r: Reader, end: number): bigint {
  let revision = 0n;
  while (r.pos < end) {
    const t = r.varint(end);
    if (t === HEADER_REVISION) revision = r.int64(end);
    else r.skip(t, end);
  }
  r.finish(end);
  return revision;
}

function responseOp(r: Reader, end: number): TxnOpResult {
  let result: TxnOpResult | undefined;
  while (r.pos < end) {
    const t = r.varint(end);
    if (t === RESPONSE_RANGE) result = rangeResponse(r, r.delimited(end));
    else if (t === RESPONSE_DELETE_RANGE) result = deleteRangeResponse(r, r.delimited(end));
    else if (t === RESPONSE_PUT || t === RESPONSE_TXN) {
      r.skip(t, end);
      result = { kind: t === RESPONSE_PUT ? 'put' : 'txn' };
    } else r.skip(t, end);
  }
  r.finish(end);
  if (!result) throw new TxnDecodeError('a ResponseOp without a response');
  return result;
}

function rangeResponse(r: Reader, end: number): TxnOpResult {
  const range = { kind: 'range' as const, kvs: [] as KeyValue[], more: false, count: 0n };
  while (r.pos < end) {
    const t = r.varint(end);
    if (t === RANGE_KVS) range.kvs.push(keyValue(r, r.delimited(end)));
    else if (t === RANGE_MORE) range.more = r.varint(end) !== 0;
    else if (t === RANGE_COUNT) range.count = r.int64(end);
    else r.skip(t, end);
  }
  r.finish(end);
  return range;
}

function deleteRangeResponse(r: Reader, end: number): TxnOpResult {
  let deleted = 0n;
  while (r.pos < end) {
    const t = r.varint(end);
    if (t === DELETE_RANGE_DELETED) deleted = r.int64(end);
    else r.skip(t, end);
  }
  r.finish(end);
  return { kind: 'deleteRange', deleted };
}

function keyValue(r: Reader, end: number): KeyValue {
  const kv: KeyValue = { key: '', value: EMPTY, createRevision: 0n, modRevision: 0n, leaseId: '0' };
  const buf = r.buf;
  while (r.pos < end) {
    const t = r.varint(end);
    if (t === KV_KEY) {
      const e = r.delimited(end);
      kv.key = buf.toString('utf8', r.pos, e);
      r.pos = e;
    } else if (t === KV_VALUE) {
      const e = r.delimited(end);
      kv.value = buf.subarray(r.pos, e);
      r.pos = e;
    } else if (t === KV_CREATE_REVISION) kv.createRevision = r.int64(end);
    else if (t === KV_MOD_REVISION) kv.modRevision = r.int64(end);
    else if (t === KV_LEASE) kv.leaseId = r.int64(end).toString();
    else r.skip(t, end);
  }
  r.finish(end);
  return kv;
}
