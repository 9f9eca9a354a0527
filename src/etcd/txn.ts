import { type CallOptions, Metadata, type StatusObject, status as Status } from '@grpc/grpc-js';
import { isBrokenCircuitError } from 'cockatiel';
import { castGrpcError, EtcdInvalidAuthTokenError, type Etcd3, type ITxnRequest } from 'etcd3';
import { clientState, slotKey } from './client-state.js';
import { messageOf } from './message.js';
import { requiresLeaderOnly, withRequireLeader } from './require-leader.js';
import { decodeTxnResponse } from './txn-decode.js';
import { encodeTxnRequest } from './txn-encode.js';
import { toEtcd3Request, viaEtcd3 } from './txn-etcd3.js';
import type { TxnRequest, TxnResult } from './txn-types.js';

export type { TxnCompare, TxnOp, TxnOpResult, TxnRequest, TxnResult } from './txn-types.js';

/**
 * An etcd transaction on `client`: the lean path for the library's hot calls (the enqueue and the
 * release transaction of every lock, campaign and acquire).
 *
 * etcd3's `client.kv.txn` runs a call through its connection pool (the client-wide fault policy,
 * a host, that host's policy, the cached auth token, the call options), then through
 * @grpc/proto-loader's codec and grpc-js's `Client` with its interceptor chain. This runs the same
 * pool, the same way — `pool.globalPolicy` around `pool.withConnection('KV', …)`, on the same
 * channel with the same metadata, options and deadline, the same renewal of a refused token and
 * the same error casting (`castGrpcError` of an error worded as grpc-js words it) — but encodes
 * and decodes the messages itself ({@link encodeTxnRequest}) and, when the call options hold
 * nothing but a deadline and the require-leader interceptor, starts the call on the channel
 * directly, adding the require-leader metadata itself. That costs a quarter less client CPU per
 * call. Everything else (other interceptors or call options, grpc-js client options) goes through
 * grpc-js's `Client.makeUnaryRequest`, still with this codec.
 *
 * It reaches into etcd3 1.1.2's internals (`client.pool`), read defensively: a client whose pool
 * is not shaped as expected, or one mocked with `client.mock()`, gets `client.kv.txn`, with the
 * request and the answer converted, so callers see one result type either way.
 */
export function txn(client: Etcd3, req: TxnRequest): Promise<TxnResult> {
  const lean = leanPoolOf(client);
  if (!lean || lean.pool.mockImpl) return viaEtcd3(client, req);
  return leanExec(lean, req, encodeTxnRequest(req));
}

/**
 * Makes {@link txn} on `client` take etcd3's `client.kv.txn` from now on: for tests and the
 * benchmark, which compare the two paths on one etcd.
 * @internal
 */
export function useEtcd3Txn(client: Etcd3): void {
  clientState(client).set(LEAN_POOL, null);
}

/** The gRPC method path of `KV/Txn`. */
const TXN_PATH = '/etcdserverpb.KV/Txn';

/** The subset of a grpc-js `Call` (a channel's call, below the interceptors) used here. */
interface ChannelCall {
  start(
    metadata: Metadata,
    listener: {
      onReceiveMetadata(metadata: Metadata): void;
      onReceiveMessage(message: Buffer): void;
      onReceiveStatus(status: StatusObject): void;
    },
  ): void;
  sendMessageWithContext(context: object, message: Buffer): void;
  halfClose(): void;
  startRead(): void;
  cancelWithStatus(code: Status, details: string): void;
}

/** A grpc-js `Client` for etcd's KV service, as etcd3 caches one per host. */
interface KvServiceClient {
  getChannel(): {
    createCall(
      method: string,
      deadline: Date | number,
      host: undefined,
      parent: null,
      flags: undefined,
    ): ChannelCall;
  };
  makeUnaryRequest(
    method: string,
    serialize: (value: Buffer) => Buffer,
    deserialize: (value: Buffer) => TxnResult,
    argument: Buffer,
    metadata: Metadata,
    options: CallOptions,
    callback: (err: Error | null, value?: TxnResult) => void,
  ): unknown;
}

/** What etcd3's `CallOptionsFactory` is called with for a unary call. */
interface CallContext {
  service: 'KV';
  method: 'txn';
  isStream: false;
  readonly params: ITxnRequest;
}

/** etcd3 1.1.2's `ConnectionPool`, the parts `exec` uses. */
interface PoolInternals {
  mockImpl?: unknown;
  callOptionsFactory: CallOptions | ((context: CallContext) => CallOptions) | undefined;
  globalPolicy: { execute<T>(fn: () => Promise<T>): Promise<T> };
  withConnection<T>(
    service: 'KV',
    fn: (args: { client: KvServiceClient; metadata: Metadata }) => Promise<T>,
  ): Promise<T>;
  authenticator: { invalidateMetadata(): void };
  options?: { grpcOptions?: Record<string, unknown> };
}

interface LeanPool {
  pool: PoolInternals;
  /** grpc-js client options that act on every call (interceptors, a transformer): never bypassed. */
  clientInterceptors: boolean;
}

const LEAN_POOL = slotKey<LeanPool | null>('lean txn pool');

function leanPoolOf(client: Etcd3): LeanPool | undefined {
  const state = clientState(client);
  let lean = state.peek(LEAN_POOL);
  if (lean === undefined) {
    lean = inspectPool(client);
    state.set(LEAN_POOL, lean);
  }
  return lean ?? undefined;
}

function inspectPool(client: Etcd3): LeanPool | null {
  const pool = (client as unknown as { pool?: Partial<PoolInternals> }).pool;
  if (
    !pool ||
    typeof pool.withConnection !== 'function' ||
    typeof pool.globalPolicy?.execute !== 'function' ||
    typeof pool.authenticator?.invalidateMetadata !== 'function' ||
    !('callOptionsFactory' in pool)
  ) {
    return null;
  }
  const grpc = pool.options?.grpcOptions ?? {};
  const clientInterceptors = ['interceptors', 'interceptor_providers', 'callInvocationTransformer'].some(
    (option) => grpc[option] !== undefined,
  );
  return { pool: pool as PoolInternals, clientInterceptors };
}

/** etcd3's `ConnectionPool.exec('KV', 'txn', …)`, with `message` already encoded. */
async function leanExec(lean: LeanPool, req: TxnRequest, message: Buffer): Promise<TxnResult> {
  const { pool } = lean;
  let lastError: Error | undefined;
  try {
    return await pool.globalPolicy.execute(() =>
      pool.withConnection('KV', async ({ client, metadata }) => {
        const options = callOptions(pool, req);
        try {
          return await unaryTxn(lean, client, metadata, options, message);
        } catch (err) {
          if (err instanceof EtcdInvalidAuthTokenError) {
            // As etcd3 does: authenticate again and run the whole call anew.
            pool.authenticator.invalidateMetadata();
            return leanExec(lean, req, message);
          }
          lastError = err as Error; // castGrpcError's: always an Error
          throw err;
        }
      }),
    );
  } catch (err) {
    // A circuit that opened after a real failure: report the failure (as etcd3 does).
    if (isBrokenCircuitError(err) && lastError && !isBrokenCircuitError(lastError)) throw lastError;
    throw err;
  }
}

/** etcd3's `resolveCallOptions(undefined, defaultCallOptions, context)`. */
function callOptions(pool: PoolInternals, req: TxnRequest): CallOptions {
  const factory = pool.callOptionsFactory;
  if (factory === undefined) return {};
  if (typeof factory !== 'function') return factory;
  return factory(new TxnCallContext(req));
}

/** The context etcd3 gives its call options factory; `params` (etcd3's shape) made only if read. */
class TxnCallContext implements CallContext {
  readonly service = 'KV';
  readonly method = 'txn';
  readonly isStream = false;
  private etcd3Request: ITxnRequest | undefined;

  constructor(private readonly req: TxnRequest) {}

  get params(): ITxnRequest {
    return (this.etcd3Request ??= toEtcd3Request(this.req));
  }
}

/** The call options the channel path takes: a deadline, and interceptors as {@link requiresLeaderOnly} reads them. */
function channelOptions(
  options: CallOptions,
): { deadline: Date | number; requireLeader: boolean } | undefined {
  for (const key in options) {
    if (key !== 'deadline' && key !== 'interceptors' && options[key as keyof CallOptions] !== undefined) {
      return undefined;
    }
  }
  const requireLeader = requiresLeaderOnly(options.interceptors);
  if (requireLeader === undefined) return undefined;
  return { deadline: options.deadline ?? Infinity, requireLeader };
}

/** One unary Txn call on `client`'s channel; rejects with etcd3's typed error (castGrpcError). */
function unaryTxn(
  lean: LeanPool,
  client: KvServiceClient,
  metadata: Metadata,
  options: CallOptions,
  message: Buffer,
): Promise<TxnResult> {
  const direct = lean.clientInterceptors ? undefined : channelOptions(options);
  return new Promise<TxnResult>((resolve, reject) => {
    const settle = (err: Error | null, res?: TxnResult) => {
      if (err) reject(castGrpcError(err));
      else resolve(res!);
    };
    if (!direct) {
      client.makeUnaryRequest(TXN_PATH, identity, decodeTxnResponse, message, metadata, options, settle);
      return;
    }
    const call = client.getChannel().createCall(TXN_PATH, direct.deadline, undefined, null, undefined);
    let response: TxnResult | null = null;
    let readError: StatusObject | undefined;
    let done = false;
    // What grpc-js's Client.makeUnaryRequest and its BaseUnaryInterceptingCall do, minus the chain.
    call.start(direct.requireLeader ? withRequireLeader(metadata) : metadata, {
      onReceiveMetadata() {
        /* etcd sends none that the library reads */
      },
      onReceiveMessage(bytes) {
        if (response !== null) call.cancelWithStatus(Status.UNIMPLEMENTED, 'Too many responses received');
        try {
          response = decodeTxnResponse(bytes);
        } catch (err) {
          readError = {
            code: Status.INTERNAL,
            details: `Response message parsing error: ${messageOf(err)}`,
            metadata: new Metadata(), // as grpc-js: not the request's (it holds the auth token)
          };
          call.cancelWithStatus(readError.code, readError.details);
        }
      },
      onReceiveStatus(status) {
        if (done) return;
        done = true;
        const final = readError ?? status;
        if (final.code !== Status.OK) settle(callError(final));
        else if (response === null) {
          settle(
            callError({
              code: Status.UNIMPLEMENTED,
              details: 'No message received',
              metadata: final.metadata,
            }),
          );
        } else settle(null, response);
      },
    });
    call.startRead();
    call.sendMessageWithContext({}, message);
    call.halfClose();
  });
}

function identity(message: Buffer): Buffer {
  return message;
}

/** grpc-js's `callErrorFromStatus`: the error a failed call reports, which castGrpcError reads. */
function callError(status: StatusObject): Error {
  const message = `${status.code} ${Status[status.code]}: ${status.details}`;
  return Object.assign(new Error(message), status);
}
