import { InvalidArgumentError } from '../errors.js';
import type { Etcd3 } from 'etcd3';

/**
 * Checks of arguments TypeScript already types, for callers in plain JavaScript: a wrong value
 * gets an InvalidArgumentError that says what to pass, not a TypeError from deep inside.
 */

/** `client` must be an etcd3 client (duck-typed, so a second copy of etcd3 still passes). */
export function validateClient(client: unknown, what: string): asserts client is Etcd3 {
  const c = client as Partial<Etcd3> | null | undefined;
  if (typeof c !== 'object' || c === null || typeof c.kv !== 'object' || typeof c.leaseClient !== 'object') {
    throw new InvalidArgumentError(
      `${what} needs an etcd3 client, got ${describe(client)}: pass createClient() or new Etcd3(...)`,
    );
  }
}

/** `signal`, when given, must be an AbortSignal. */
export function validateSignal(signal: unknown, what: string): asserts signal is AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(
      `${what}: signal must be an AbortSignal (for example AbortSignal.timeout(ms)), got ${describe(signal)}`,
    );
  }
}

/** How a wrong argument is named in messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `"${value}"` : typeof value;
}
