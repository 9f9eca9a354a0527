/**
 * The hand-written TxnRequest/TxnResponse codec (src/etcd/txn-encode.ts, txn-decode.ts) against etcd3's own
 * protobuf definitions (rpc.proto through @grpc/proto-loader, taken from etcd3's KV service
 * client): what the codec encodes, etcd3 decodes to the request etcd3's path would send; what
 * etcd3 encodes (with fields the codec does not read, nested transactions and int64 extremes),
 * the codec decodes to what etcd3's path reports; and no bytes make the decoder loop or throw
 * anything but its own error. No etcd needed: the service client never connects.
 */
import fc from 'fast-check';
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeTxnResponse, TxnDecodeError } from '../../src/etcd/txn-decode.js';
import { encodeTxnRequest } from '../../src/etcd/txn-encode.js';
import { fromEtcd3Response, toEtcd3Request } from '../../src/etcd/txn-etcd3.js';
import type { TxnCompare, TxnOp, TxnRequest } from '../../src/etcd/txn-types.js';

interface MethodDefinition {
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

const offline = new Etcd3({ hosts: '127.0.0.1:1' });
afterAll(() => {
  offline.close();
});
/** etcd3's (proto-loader's) codec of KV/Txn, as its pool uses it. */
const etcd3Txn = (
  offline as unknown as {
    pool: {
      hosts: { getServiceClient(name: 'KV'): { constructor: { service: { Txn: MethodDefinition } } } }[];
    };
  }
).pool.hosts[0]!.getServiceClient('KV').constructor.service.Txn;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** int64s, biased to the edges where varints change length or sign. */
const int64 = fc.oneof(
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.constantFrom(0n, 1n, 127n, 128n, 2n ** 49n - 1n, 2n ** 49n, 2n ** 53n, INT64_MAX, -1n, INT64_MIN),
  fc.bigInt({ min: 0n, max: 100_000n }),
);
/** Revisions, lease ids, limits: non-negative, as etcd sends and takes them. */
const uint63 = fc.oneof(fc.bigInt({ min: 0n, max: INT64_MAX }), fc.bigInt({ min: 0n, max: 300n }));
const bytes = (max = 40) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const nonEmptyBytes = fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => Buffer.from(a));

const compare: fc.Arbitrary<TxnCompare> = fc
  .record({
    key: bytes(),
    target: fc.constantFrom('Version', 'Create', 'Mod', 'Value', 'Lease' as const),
    result: fc.constantFrom('Equal', 'Greater', 'Less', 'NotEqual' as const),
    number: int64,
    value: bytes(),
  })
  .map(({ key, target, result, number, value }) => ({
    key,
    target,
    result,
    operand: target === 'Value' ? value : number,
  }));

const op: fc.Arbitrary<TxnOp> = fc.oneof(
  fc.record(
    {
      kind: fc.constant('range' as const),
      key: bytes(),
      rangeEnd: nonEmptyBytes,
      limit: uint63,
      sortOrder: fc.constantFrom('None', 'Ascend', 'Descend' as const),
      sortTarget: fc.constantFrom('Key', 'Version', 'Create', 'Mod', 'Value' as const),
      keysOnly: fc.boolean(),
    },
    { requiredKeys: ['kind', 'key'] },
  ),
  fc.record(
    { kind: fc.constant('put' as const), key: bytes(), value: bytes(200), lease: uint63 },
    { requiredKeys: ['kind', 'key', 'value'] },
  ),
  fc.record(
    { kind: fc.constant('deleteRange' as const), key: bytes(), rangeEnd: nonEmptyBytes },
    { requiredKeys: ['kind', 'key'] },
  ),
);

const request: fc.Arbitrary<TxnRequest> = fc.record({
  compare: fc.array(compare, { maxLength: 4 }),
  success: fc.array(op, { maxLength: 4 }),
  failure: fc.array(op, { maxLength: 4 }),
});

/** A TxnResponse as etcd3's protobuf codec takes it (int64 as decimal strings). */
const header = fc.record({
  cluster_id: uint63.map(String),
  member_id: uint63.map(String),
  revision: uint63.map(String),
  raft_term: uint63.map(String),
});
const keyValue = fc.record(
  {
    key: bytes(),
    create_revision: uint63.map(String),
    mod_revision: uint63.map(String),
    version: uint63.map(String),
    value: bytes(200),
    lease: uint63.map(String),
  },
  { requiredKeys: [] },
);
const responseOp = (nested: fc.Arbitrary<object>): fc.Arbitrary<object> =>
  fc.oneof(
    fc.record({
      response_range: fc.record(
        {
          header,
          kvs: fc.array(keyValue, { maxLength: 4 }),
          more: fc.boolean(),
          count: uint63.map(String),
        },
        { requiredKeys: [] },
      ),
    }),
    fc.record({ response_put: fc.record({ header, prev_kv: keyValue }, { requiredKeys: [] }) }),
    fc.record({
      response_delete_range: fc.record(
        { header, deleted: uint63.map(String), prev_kvs: fc.array(keyValue, { maxLength: 2 }) },
        { requiredKeys: [] },
      ),
    }),
    fc.record({ response_txn: nested }),
  );
const innerResponse = fc.record(
  { header, succeeded: fc.boolean(), responses: fc.array(responseOp(fc.constant({})), { maxLength: 2 }) },
  { requiredKeys: [] },
);
/** etcd always sends the header; the rest may be left out (proto3 defaults). */
const response = fc.record(
  { header, succeeded: fc.boolean(), responses: fc.array(responseOp(innerResponse), { maxLength: 5 }) },
  { requiredKeys: ['header'] },
);

describe('the TxnRequest/TxnResponse codec, against etcd3’s protobuf definitions', () => {
  it('encodes a request that etcd3 decodes to the request etcd3’s own path sends', () => {
    fc.assert(
      fc.property(request, (req) => {
        const ours = etcd3Txn.requestDeserialize(encodeTxnRequest(req));
        const theirs = etcd3Txn.requestDeserialize(etcd3Txn.requestSerialize(toEtcd3Request(req)));
        expect(ours).toEqual(theirs);
      }),
      { numRuns: 500 },
    );
  });

  it('writes the compare operand even when it is zero ("Create == 0": the key is absent)', () => {
    const bytesOut = encodeTxnRequest({
      compare: [{ key: Buffer.from('k'), target: 'Create', result: 'Equal', operand: 0n }],
      success: [],
      failure: [],
    });
    expect(etcd3Txn.requestDeserialize(bytesOut)).toMatchObject({
      compare: [{ target: 'Create', result: 'Equal', create_revision: '0', target_union: 'create_revision' }],
    });
  });

  it('decodes what etcd3 encodes to what etcd3’s path reports, skipping the fields it does not read', () => {
    fc.assert(
      fc.property(response, (res) => {
        const wire = etcd3Txn.responseSerialize(res);
        const theirs = fromEtcd3Response(
          etcd3Txn.responseDeserialize(wire) as Parameters<typeof fromEtcd3Response>[0],
        );
        expect(decodeTxnResponse(wire)).toEqual(theirs);
      }),
      { numRuns: 500 },
    );
  });

  it('reads a lease id and revisions above 2^53 exactly', () => {
    const lease = (2n ** 62n + 12345n).toString();
    const wire = etcd3Txn.responseSerialize({
      header: { revision: (2n ** 60n + 1n).toString() },
      succeeded: false,
      responses: [
        { response_range: { kvs: [{ key: Buffer.from('k'), lease, create_revision: '9007199254740993' }] } },
      ],
    });
    const decoded = decodeTxnResponse(wire);
    expect(decoded.revision).toBe(2n ** 60n + 1n);
    expect(decoded.responses[0]).toMatchObject({
      kind: 'range',
      kvs: [{ key: 'k', leaseId: lease, createRevision: 9007199254740993n }],
    });
  });

  it('decodes any bytes to a result or a TxnDecodeError, never another error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
          // Valid responses cut short or with a byte changed: the likely corruptions.
          fc.tuple(response, fc.nat(), fc.nat(255)).map(([res, at, byte]) => {
            const wire = Buffer.from(etcd3Txn.responseSerialize(res));
            if (wire.length === 0) return wire;
            if (at % 2 === 0) return wire.subarray(0, at % wire.length);
            wire[at % wire.length] = byte;
            return wire;
          }),
        ),
        (wire) => {
          try {
            decodeTxnResponse(wire);
          } catch (err) {
            expect(err).toBeInstanceOf(TxnDecodeError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
