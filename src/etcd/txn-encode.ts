import {
  type CompareResult,
  type CompareTarget,
  LENGTH_DELIMITED,
  type SortOrder,
  type SortTarget,
  type TxnCompare,
  type TxnOp,
  type TxnRequest,
  VARINT,
} from './txn-types.js';

/**
 * The protobuf encoding of a `TxnRequest`, written by hand.
 *
 * etcd3 goes through @grpc/proto-loader: every call converts a plain object (int64 fields as
 * decimal strings) to a protobufjs message (`fromObject`, through `Long`), then encodes it. This
 * writes the request straight from typed values into one buffer: the sizes of every nested
 * message first, then the bytes front to back. proto3 leaves zero scalars and empty bytes out,
 * except a oneof member, which is always written ("Create == 0" must reach etcd as such).
 */
export function encodeTxnRequest(req: TxnRequest): Buffer {
  const sizes: number[] = [];
  let total = 0;
  for (const c of req.compare) {
    const size = compareSize(c);
    sizes.push(size);
    total += fieldSize(size);
  }
  for (const branch of [req.success, req.failure]) {
    for (const op of branch) {
      const size = opSize(op);
      sizes.push(size);
      // A RequestOp holds one length-delimited member: its size is that member's field size.
      total += fieldSize(fieldSize(size));
    }
  }
  const w = new Writer(Buffer.allocUnsafe(total));
  let i = 0;
  for (const c of req.compare) {
    w.tag(1, LENGTH_DELIMITED);
    w.varint(sizes[i++]!);
    writeCompare(w, c);
  }
  for (const [field, branch] of [
    [2, req.success],
    [3, req.failure],
  ] as const) {
    for (const op of branch) {
      const size = sizes[i++]!;
      w.tag(field, LENGTH_DELIMITED);
      w.varint(fieldSize(size));
      writeOp(w, op, size);
    }
  }
  if (w.pos !== total) throw new Error(`TxnRequest encoding wrote ${w.pos} bytes, expected ${total} (a bug)`);
  return w.buf;
}

const COMPARE_TARGET: Record<CompareTarget, number> = { Version: 0, Create: 1, Mod: 2, Value: 3, Lease: 4 };
const COMPARE_RESULT: Record<CompareResult, number> = { Equal: 0, Greater: 1, Less: 2, NotEqual: 3 };
const SORT_ORDER: Record<SortOrder, number> = { None: 0, Ascend: 1, Descend: 2 };
const SORT_TARGET: Record<SortTarget, number> = { Key: 0, Version: 1, Create: 2, Mod: 3, Value: 4 };
/** The `target_union` field of each compare target: version 4, create_revision 5, mod_revision 6, value 7, lease 8. */
const COMPARE_FIELD: Record<CompareTarget, number> = { Version: 4, Create: 5, Mod: 6, Value: 7, Lease: 8 };
/** `RequestOp`'s oneof fields: request_range 1, request_put 2, request_delete_range 3. */
const OP_FIELD = { range: 1, put: 2, deleteRange: 3 } as const;

const TWO_POW_53 = 2n ** 53n;

function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  let size = 4;
  for (let v = Math.floor(n / 0x10000000); v > 0; v = Math.floor(v / 0x80)) size++;
  return size;
}

/** int64 on the wire: a negative value is its 64-bit two's complement (10 bytes). */
function int64Size(v: bigint): number {
  if (v >= 0n && v < TWO_POW_53) return varintSize(Number(v));
  // ≥ 2^53: more than 4 bytes; the first 4 carry the low 28 bits, the rest what is above them.
  const [lo, hi] = halves(v);
  return 4 + varintSize(hi * 16 + Math.floor(lo / 0x10000000));
}

/** The low and high 32 bits of `v` as a 64-bit two's complement: BigInt work once per value. */
function halves(v: bigint): [lo: number, hi: number] {
  const u = BigInt.asUintN(64, v);
  return [Number(u & 0xffffffffn), Number(u >> 32n)];
}

/** Size of a length-delimited field of `length` bytes, with a 1-byte tag (field numbers < 16). */
function fieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(n: number): void {
    const buf = this.buf;
    while (n >= 0x80) {
      buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[this.pos++] = n;
  }

  int64(v: bigint): void {
    if (v >= 0n && v < TWO_POW_53) {
      this.varint(Number(v));
      return;
    }
    let [lo, hi] = halves(v);
    const buf = this.buf;
    while (hi > 0 || lo >= 0x80) {
      buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[this.pos++] = lo;
  }

  tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  bytes(field: number, value: Buffer): void {
    this.tag(field, LENGTH_DELIMITED);
    this.varint(value.length);
    value.copy(this.buf, this.pos);
    this.pos += value.length;
  }

  /** A varint field, left out when zero (proto3). */
  enumOrBool(field: number, value: number): void {
    if (value === 0) return;
    this.tag(field, VARINT);
    this.varint(value);
  }
}

function compareSize(c: TxnCompare): number {
  let size = 0;
  const result = COMPARE_RESULT[c.result];
  const target = COMPARE_TARGET[c.target];
  if (result !== 0) size += 1 + varintSize(result);
  if (target !== 0) size += 1 + varintSize(target);
  if (c.key.length > 0) size += fieldSize(c.key.length);
  size += Buffer.isBuffer(c.operand) ? fieldSize(c.operand.length) : 1 + int64Size(c.operand);
  return size;
}

function writeCompare(w: Writer, c: TxnCompare): void {
  w.enumOrBool(1, COMPARE_RESULT[c.result]);
  w.enumOrBool(2, COMPARE_TARGET[c.target]);
  if (c.key.length > 0) w.bytes(3, c.key);
  const field = COMPARE_FIELD[c.target];
  if (Buffer.isBuffer(c.operand)) {
    w.bytes(field, c.operand);
  } else {
    w.tag(field, VARINT);
    w.int64(c.operand);
  }
}

/** The size of the RangeRequest, PutRequest or DeleteRangeRequest inside a RequestOp. */
function opSize(op: TxnOp): number {
  let size = op.key.length > 0 ? fieldSize(op.key.length) : 0;
  switch (op.kind) {
    case 'range': {
      if (op.rangeEnd && op.rangeEnd.length > 0) size += fieldSize(op.rangeEnd.length);
      if (op.limit) size += 1 + int64Size(op.limit);
      const order = SORT_ORDER[op.sortOrder ?? 'None'];
      const target = SORT_TARGET[op.sortTarget ?? 'Key'];
      if (order !== 0) size += 1 + varintSize(order);
      if (target !== 0) size += 1 + varintSize(target);
      if (op.keysOnly) size += 2;
      return size;
    }
    case 'put':
      if (op.value.length > 0) size += fieldSize(op.value.length);
      if (op.lease) size += 1 + int64Size(op.lease);
      return size;
    case 'deleteRange':
      if (op.rangeEnd && op.rangeEnd.length > 0) size += fieldSize(op.rangeEnd.length);
      return size;
  }
}

function writeOp(w: Writer, op: TxnOp, size: number): void {
  w.tag(OP_FIELD[op.kind], LENGTH_DELIMITED);
  w.varint(size);
  if (op.key.length > 0) w.bytes(1, op.key);
  switch (op.kind) {
    case 'range':
      if (op.rangeEnd && op.rangeEnd.length > 0) w.bytes(2, op.rangeEnd);
      if (op.limit) {
        w.tag(3, VARINT);
        w.int64(op.limit);
      }
      w.enumOrBool(5, SORT_ORDER[op.sortOrder ?? 'None']);
      w.enumOrBool(6, SORT_TARGET[op.sortTarget ?? 'Key']);
      w.enumOrBool(8, op.keysOnly ? 1 : 0);
      return;
    case 'put':
      if (op.value.length > 0) w.bytes(2, op.value);
      if (op.lease) {
        w.tag(3, VARINT);
        w.int64(op.lease);
      }
      return;
    case 'deleteRange':
      if (op.rangeEnd && op.rangeEnd.length > 0) w.bytes(2, op.rangeEnd);
      return;
  }
}
