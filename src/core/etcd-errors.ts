import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  isRecoverableError,
  type Etcd3,
} from 'etcd3';
import { isBrokenCircuitError } from 'cockatiel';
import { endpointsOf } from '../client.js';
import {
  EtcdConcurrencyError,
  EtcdUnavailableError,
  InvalidArgumentError,
  PermissionDeniedError,
} from '../errors.js';

/**
 * Turns an error from etcd3 into the library's typed error, naming the endpoints, key and user
 * involved (never a password). Errors that are already ours, and ones we do not know, pass through.
 */
export function translateError(err: unknown, client: Etcd3, key?: string): Error {
  if (err instanceof EtcdConcurrencyError) return err;
  if (!(err instanceof Error)) return new Error(String(err));
  if (err instanceof EtcdPermissionDeniedError) {
    return new PermissionDeniedError(
      key,
      userOf(client),
      'permission denied; grant the role access to this prefix',
      {
        cause: err,
      },
    );
  }
  if (err instanceof EtcdAuthenticationFailedError) {
    return new PermissionDeniedError(
      undefined,
      userOf(client),
      'authentication failed: wrong user name or password',
      {
        cause: err,
      },
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
    return new EtcdUnavailableError(endpointsOf(client), err.message, { cause: err });
  }
  return err;
}

/** Whether retrying the same idempotent call may succeed (connection trouble, leader change). */
export function isTransientError(err: unknown): boolean {
  if (err instanceof EtcdUnavailableError) return true;
  if (err instanceof EtcdConcurrencyError) return false;
  return err instanceof Error && (isRecoverableError(err) || isBrokenCircuitError(err));
}

function userOf(client: Etcd3): string | undefined {
  return (client as unknown as { options?: { auth?: { username?: string } } }).options?.auth?.username;
}
