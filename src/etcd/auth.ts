import { EtcdInvalidAuthTokenError, castGrpcError, type Etcd3 } from 'etcd3';
import { messageOf } from './message.js';

/**
 * Auth-token renewal for the streams the library opens itself.
 *
 * etcd3 authenticates once per client and caches the token (its connection pool's
 * `Authenticator`). A unary call refused with "invalid auth token" makes etcd3 drop the cache and
 * re-run the call; a stream never does: it is opened with the cached token and keeps it for its
 * life. etcd checks a watch stream's token each time a watch is created on it (etcd 3.4 answers
 * with a cancel, reason "…: etcdserver: invalid auth token"), so once a simple token expires
 * (`--auth-token-ttl`, 300 s by default, counted from its last use on that member) every new or
 * resumed watch on that stream fails. The watch and keep-alive hubs call {@link invalidateToken}
 * on that answer and reopen their stream, which then authenticates afresh.
 *
 * This reaches into etcd3's internals (`pool.authenticator`, 1.1.2), read defensively: without
 * them the functions do nothing and the stream's retry reports the error.
 */
interface Authenticator {
  /** The pending or cached token (as gRPC metadata); null when none is cached. */
  awaitingMetadata: Promise<unknown> | null;
  invalidateMetadata(): void;
}

function authenticatorOf(client: Etcd3): Authenticator | undefined {
  const pool = (client as unknown as { pool?: { authenticator?: Partial<Authenticator> } }).pool;
  const authenticator = pool?.authenticator;
  if (authenticator && typeof authenticator.invalidateMetadata === 'function') {
    return authenticator as Authenticator;
  }
  return undefined;
}

/**
 * The token a stream opened now is using (an opaque handle, undefined without auth). Take it right
 * after opening the stream and pass it to {@link invalidateToken} when etcd refuses that token.
 */
export function currentToken(client: Etcd3): unknown {
  return authenticatorOf(client)?.awaitingMetadata ?? undefined;
}

/**
 * Makes the client's next call or stream authenticate again, unless the token `used` was already
 * replaced (a unary call renewed it meanwhile): each expiry costs one Authenticate, not one per
 * stream that noticed it.
 */
export function invalidateToken(client: Etcd3, used?: unknown): void {
  const authenticator = authenticatorOf(client);
  if (!authenticator) return;
  if (used !== undefined && authenticator.awaitingMetadata !== used) return;
  authenticator.invalidateMetadata();
}

/** Whether an error, or a watch's cancel reason, says etcd does not (or no longer) know the token. */
export function isInvalidAuthToken(errorOrReason: unknown): boolean {
  if (errorOrReason instanceof EtcdInvalidAuthTokenError) return true;
  const text = messageOf(errorOrReason);
  return text.includes('invalid auth token');
}

type AuthenticateCallback = (err: Error | null, res?: { token: string }) => void;

interface PoolInternals {
  authenticator?: {
    getCredentialsFromHost?: (
      address: string,
      name: string,
      password: string,
      options?: object,
    ) => Promise<string>;
  };
  hosts?: {
    host: string;
    getServiceClient(name: 'Auth'): {
      authenticate(req: { name: string; password: string }, options: object, cb: AuthenticateCallback): void;
    };
  }[];
}

/**
 * Makes etcd3 authenticate on the client's own connection to each host.
 *
 * etcd3 builds a new gRPC channel for every Authenticate call and never closes it: each token
 * renewal costs a channel (and a TLS handshake), and once a handshake has failed, the fresh
 * channel reports only "No connection established. Last error: null" — a client refused for its
 * certificate loses the reason after the first attempt and a watch then retries forever as if etcd
 * were down. The host's cached `Auth` service client shares the channel of every other call, keeps
 * its keep-alive options and the real TLS error. The credentials themselves stay inside etcd3.
 */
export function shareAuthChannel(client: Etcd3): void {
  const pool = (client as unknown as { pool?: PoolInternals }).pool;
  const authenticator = pool?.authenticator;
  const original = authenticator?.getCredentialsFromHost?.bind(authenticator);
  if (!pool?.hosts || !authenticator || !original) return;
  const hosts = pool.hosts;
  authenticator.getCredentialsFromHost = (address, name, password, options = {}) => {
    const host = hosts.find((h) => h.host === address);
    if (!host) return original(address, name, password, options);
    return new Promise<string>((resolve, reject) => {
      host.getServiceClient('Auth').authenticate({ name, password }, options, (err, res) => {
        if (err) reject(castGrpcError(err));
        else resolve(res?.token ?? '');
      });
    });
  };
}
