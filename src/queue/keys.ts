import { InvalidArgumentError, leaseHex } from '../errors.js';

/**
 * Key layout shared with Go's `clientv3/concurrency` and its recipes, so that `etcdctl lock`,
 * `etcdctl elect` and Go services contend on the same keys as we do:
 * a name `n` owns the prefix `n/`, and a session's key under it is `n/<lease id in lowercase hex>`.
 */

/** Checks a primitive's name; `what` names the primitive in the message. */
export function validateName(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError(`${what} name must be a non-empty string, got ${describe(name)}`);
  }
  if (name.endsWith('/')) {
    throw new InvalidArgumentError(
      `${what} name "${name}" must not end with "/": the library appends "/" itself, as Go's concurrency package does`,
    );
  }
  if (name.includes('\0')) throw new InvalidArgumentError(`${what} name must not contain NUL characters`);
}

/** The prefix under which a primitive's contenders live (Go: `pfx + "/"`). */
export function prefixOf(name: string): string {
  return `${name}/`;
}

/** A session's own key under `prefix` (Go: `fmt.Sprintf("%s%x", pfx, leaseID)`). */
export function sessionKey(prefix: string, leaseId: string): string {
  return prefix + leaseHex(leaseId);
}

let lastNanos = 0n;

/**
 * A unique key under `prefix` as Go's recipes make them (`prefix/<unix nanoseconds>`), strictly
 * increasing within this process so two calls in one millisecond never collide.
 */
export function uniqueKey(prefix: string): string {
  let nanos = BigInt(Date.now()) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000));
  if (nanos <= lastNanos) nanos = lastNanos + 1n;
  lastNanos = nanos;
  return prefix + nanos.toString();
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : typeof value;
}
