import { readFileSync } from 'node:fs';
import { Etcd3, type IOptions } from 'etcd3';
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import { shareAuthChannel } from './auth.js';
import { clientState, slotKey } from './client-state.js';
import { HostHealth, RetryUnsentPolicy } from './host-health.js';
import { type RequireLeader, requireLeaderOptions, setRequireLeader } from './require-leader.js';
import { InvalidArgumentError } from '../errors.js';

/** TLS material for a secure cluster: file paths or buffers (PEM). */
export interface TlsOptions {
  /** CA certificate that signed the servers' certificates (etcdctl `--cacert`). */
  ca?: string | Buffer;
  /** Client certificate (etcdctl `--cert`). */
  cert?: string | Buffer;
  /** Client private key (etcdctl `--key`). */
  key?: string | Buffer;
}

/** Options of {@link createClient}: etcd3's own options, with coordination-friendly defaults. */
export interface ClientOptions extends Partial<Omit<IOptions, 'hosts' | 'auth'>> {
  /**
   * etcd endpoints.
   * @default `ETCD_ENDPOINTS` (comma separated), else `127.0.0.1:2379`
   */
  endpoints?: string | string[];
  /**
   * Deadline of every unary call in milliseconds (streams have none).
   * @default 5000
   */
  callTimeoutMs?: number;
  /**
   * TLS files or buffers.
   * @default from `ETCD_CACERT`, `ETCD_CERT`, `ETCD_KEY`; none if unset
   */
  tls?: TlsOptions;
  /**
   * Username and password.
   * @default from `ETCD_USER` (`user:password`); none if unset
   */
  auth?: { username: string; password: string };
  /**
   * Sends etcd's require-leader metadata (`hasleader`, as Go's `clientv3.WithRequireLeader`), so
   * that a member cut off from the quorum refuses the call with "etcdserver: no leader" instead of
   * leaving it hanging: a watch on such a member errors (and reopens, on another member if there is
   * one) instead of staying silent, and the keep-alive stream breaks, so sessions report
   * `suspended` and renew through another member. A renewal unanswered for 250 ms makes the client
   * ask the stream's member itself (one Maintenance.Status with the metadata), so that happens
   * within ~0.5 s of the next renewal once the member knows, instead of after etcd's three election
   * timeouts; nothing is asked while renewals are answered. `true` or `'streams'`: the watch and lease
   * keep-alive streams; `'all'`: unary calls too (they then fail at once during a leader election
   * instead of waiting it out); `false`: none, and no leader check.
   * @default 'streams'
   */
  requireLeader?: boolean | 'streams' | 'all';
}

const DEFAULT_CALL_TIMEOUT_MS = 5000;

/** Endpoints each client created here was given, for error messages (never credentials). */
const ENDPOINTS = slotKey<readonly string[]>('endpoints');

/**
 * Creates an `Etcd3` client tuned for coordination:
 * - gRPC keep-alive pings every 10 s (etcd refuses faster ones), so a stalled connection is noticed;
 * - a deadline on every unary call, none on watch and keep-alive streams;
 * - no automatic re-execution of calls: etcd3's default retries every call, Txn and Put included,
 *   which makes a compare-and-swap look failed when its first attempt had succeeded. The library
 *   retries only where an operation is idempotent;
 * - no circuit breaker (etcd3's default keeps failing calls for 5 s after etcd is back); with
 *   several endpoints, a member that just failed is passed over while another is healthy, and a
 *   call that never reached a member goes to the next one at once;
 * - watches reconnect within 50 ms to 1 s instead of up to 30 s;
 * - watch and keep-alive streams require a leader (`requireLeader`), so a member cut off from the
 *   quorum ends them ("etcdserver: no leader", after three election timeouts) instead of leaving
 *   them silent, and refuses new ones at once; a renewal unanswered for 250 ms makes the client ask
 *   the member itself, so its sessions know sooner.
 *
 * @example
 * ```ts
 * const client = createClient({ endpoints: ['127.0.0.1:2379'] });
 * ```
 */
export function createClient(options: ClientOptions = {}): Etcd3 {
  const {
    endpoints,
    callTimeoutMs = DEFAULT_CALL_TIMEOUT_MS,
    tls,
    auth,
    requireLeader = 'streams',
    ...rest
  } = options;
  if (!Number.isFinite(callTimeoutMs) || callTimeoutMs <= 0) {
    throw new InvalidArgumentError(
      `callTimeoutMs must be a positive number of milliseconds, got ${callTimeoutMs}`,
    );
  }
  const hosts = resolveEndpoints(endpoints);
  const credentials = resolveTls(tls ?? tlsFromEnv());
  const login = auth ?? authFromEnv();
  const health = new HostHealth(hosts);
  const leaderMode = resolveRequireLeader(requireLeader);
  const etcdOptions: IOptions = {
    hosts,
    grpcOptions: {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      ...rest.grpcOptions,
    },
    // Streams: the watch and keep-alive hubs ask for require-leader themselves (streamCallOptions).
    defaultCallOptions: (context) =>
      context.isStream
        ? {}
        : { ...requireLeaderOptions(leaderMode, false), deadline: new Date(Date.now() + callTimeoutMs) },
    faultHandling: {
      global: new RetryUnsentPolicy(hosts.length),
      host: (host) => health.policyFor(host),
      // etcd3 types this as a backoff but calls .next() on it first, as on a factory.
      watchBackoff: new ExponentialBackoff({
        initialDelay: 50,
        maxDelay: 1000,
      }) as unknown as IBackoff<unknown>,
      ...rest.faultHandling,
    },
    ...(credentials ? { credentials } : {}),
    ...(login ? { auth: login } : {}),
  };
  const client = new Etcd3(etcdOptions);
  if (login) shareAuthChannel(client);
  clientState(client).set(ENDPOINTS, hosts);
  setRequireLeader(client, leaderMode);
  return client;
}

/** The endpoints a client talks to, for error messages. */
export function endpointsOf(client: Etcd3): readonly string[] {
  const known = clientState(client).peek(ENDPOINTS);
  if (known) return known;
  // etcd3 keeps its options on a protected field; read only the hosts.
  const hosts = (client as unknown as { options?: { hosts?: string | string[] } }).options?.hosts;
  return hosts === undefined ? [] : typeof hosts === 'string' ? [hosts] : hosts;
}

function resolveRequireLeader(value: unknown): RequireLeader {
  if (value === true || value === 'streams') return 'streams';
  if (value === false || value === 'all') return value;
  throw new InvalidArgumentError(
    `requireLeader must be true, false, 'streams' or 'all', got ${JSON.stringify(value)}`,
  );
}

function resolveEndpoints(endpoints: string | string[] | undefined): string[] {
  const list =
    endpoints === undefined
      ? (process.env.ETCD_ENDPOINTS ?? '127.0.0.1:2379').split(',')
      : typeof endpoints === 'string'
        ? endpoints.split(',')
        : (endpoints as unknown);
  if (!Array.isArray(list) || (list as unknown[]).some((e) => typeof e !== 'string')) {
    throw new InvalidArgumentError(
      'endpoints must be a string or an array of strings, for example "127.0.0.1:2379" or ["https://etcd-1:2379"]',
    );
  }
  const hosts = (list as string[]).map((e) => e.trim()).filter((e) => e !== '');
  if (hosts.length === 0) throw new InvalidArgumentError('createClient needs at least one etcd endpoint');
  return hosts;
}

function tlsFromEnv(): TlsOptions | undefined {
  const { ETCD_CACERT: ca, ETCD_CERT: cert, ETCD_KEY: key } = process.env;
  if (!ca && !cert && !key) return undefined;
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

function authFromEnv(): { username: string; password: string } | undefined {
  const user = process.env.ETCD_USER;
  if (!user) return undefined;
  const colon = user.indexOf(':');
  if (colon < 0)
    throw new InvalidArgumentError('ETCD_USER must be "user:password", as etcdctl --user takes it');
  return { username: user.slice(0, colon), password: user.slice(colon + 1) };
}

function resolveTls(tls: TlsOptions | undefined): IOptions['credentials'] | undefined {
  if (!tls) return undefined;
  const read = (what: string, v: string | Buffer | undefined): Buffer | undefined => {
    if (v === undefined || v === '') return undefined; // an empty setting is no setting, as for etcdctl
    if (Buffer.isBuffer(v)) return v;
    try {
      return readFileSync(v);
    } catch (err) {
      throw new InvalidArgumentError(`Cannot read the TLS ${what} file "${v}": ${(err as Error).message}`);
    }
  };
  const rootCertificate = read('CA certificate', tls.ca);
  if (!rootCertificate) throw new InvalidArgumentError('TLS needs a CA certificate (tls.ca or ETCD_CACERT)');
  const privateKey = read('client key', tls.key);
  const certChain = read('client certificate', tls.cert);
  if (!privateKey !== !certChain) {
    throw new InvalidArgumentError('A TLS client certificate needs both cert and key (or neither)');
  }
  return { rootCertificate, ...(privateKey ? { privateKey } : {}), ...(certChain ? { certChain } : {}) };
}
