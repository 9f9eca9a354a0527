import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
  isRecoverableError,
  type Etcd3,
} from 'etcd3';
import { isBrokenCircuitError } from 'cockatiel';
import { endpointsOf } from './client.js';
import { messageOf } from './message.js';
import {
  EtcdConcurrencyError,
  EtcdUnavailableError,
  InvalidArgumentError,
  PermissionDeniedError,
} from '../errors.js';

/**
 * Turns an error from etcd3 into the library's typed error, naming the endpoints, key and user
 * involved (never a password: etcd3's errors carry only etcd's message, which has none, and the
 * user name is read from the client's options). Errors that are already ours, and ones we do not
 * know, pass through.
 */
export function translateError(err: unknown, client: Etcd3, key?: string): Error {
  if (err instanceof EtcdConcurrencyError) return err;
  if (!(err instanceof Error)) return new Error(String(err));
  if (err instanceof EtcdPermissionDeniedError) {
    return new PermissionDeniedError(
      key,
      userOf(client),
      'permission denied. Grant one of the user’s roles access to the key or its prefix ' +
        '(etcdctl role grant-permission --prefix=true <role> readwrite <prefix>), ' +
        'or use a name inside the prefix the role grants',
      { cause: err },
    );
  }
  if (err instanceof EtcdAuthenticationFailedError) {
    return new PermissionDeniedError(
      undefined,
      userOf(client),
      'authentication failed: wrong user name or password',
      { cause: err },
    );
  }
  if (err instanceof EtcdInvalidAuthTokenError || err instanceof GRPCUnauthenticatedError) {
    // etcd3 renews the token once per refusal; still refused means etcd keeps rejecting new tokens.
    return new PermissionDeniedError(
      key,
      userOf(client),
      'etcd refused the auth token, also after authenticating again',
      { cause: err },
    );
  }
  if (err instanceof ClientClosedError) {
    return new InvalidArgumentError('The etcd client was closed; create a new client', { cause: err });
  }
  if (
    err instanceof GRPCUnavailableError ||
    err instanceof GRPCDeadlineExceededError ||
    isBrokenCircuitError(err)
  ) {
    const hint = tlsHint(err);
    return new EtcdUnavailableError(endpointsOf(client), hint ? `${hint} (${err.message})` : err.message, {
      cause: err,
    });
  }
  return err;
}

/** Whether retrying the same idempotent call may succeed (connection trouble, leader change). */
export function isTransientError(err: unknown): boolean {
  if (err instanceof EtcdUnavailableError) return true;
  if (err instanceof EtcdConcurrencyError) return false;
  return err instanceof Error && (isRecoverableError(err) || isBrokenCircuitError(err));
}

/**
 * What a failed TLS handshake means, if `err` is one: gRPC reports it as "UNAVAILABLE" with
 * OpenSSL's words, which read like an etcd that is down. Undefined for other errors.
 */
export function tlsHint(err: unknown): string | undefined {
  const message = messageOf(err);
  if (/alert bad certificate|certificate required|alert unknown ca|alert certificate/i.test(message)) {
    return (
      'the TLS handshake failed: etcd did not accept a client certificate. It requires one signed by ' +
      'a CA it trusts: pass tls.cert and tls.key (ETCD_CERT, ETCD_KEY; etcdctl --cert, --key)'
    );
  }
  if (
    /unable to verify|self[- ]signed certificate|certificate has expired|altnames|does not match certificate|unable to get (local )?issuer/i.test(
      message,
    )
  ) {
    return (
      'the TLS handshake failed: etcd’s server certificate is not trusted (or not valid for this ' +
      'address). Pass the CA that signed it as tls.ca (ETCD_CACERT; etcdctl --cacert)'
    );
  }
  return undefined;
}

function userOf(client: Etcd3): string | undefined {
  return (client as unknown as { options?: { auth?: { username?: string } } }).options?.auth?.username;
}
