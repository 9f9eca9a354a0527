import { randomBytes } from 'node:crypto';

/**
 * Key layout of the work queues.
 *
 * Items use exactly the layout of Go's recipes, so Go producers and consumers share a queue:
 * - `Queue(name)`: items `name/<unix nanoseconds>`, no lease, FIFO by revision (Go's
 *   `newUniqueKV`; Go's `Dequeue` ranges the bare `name` as a prefix, sorted by mod revision).
 * - `PriorityQueue(name)`: items `name/<priority %05d>/<sequence %016d>`, no lease, taken in key
 *   order (lowest priority number first, FIFO within one), plus Go's bookkeeping key
 *   `__name/<priority %05d>` that stops two producers from taking the same sequence number.
 *
 * At-least-once claims live outside every range a Go consumer reads: Go ranges `name` *without*
 * a trailing slash, so any key that starts with `name` would be dequeued by Go as an item. They
 * live under `__etcd-concurrency/claims/<name, URI-encoded>/` instead (encoded, so that the
 * claims of queue `a` never include those of queue `a/b`):
 * - the marker `<claims>/<nonce>`, on the worker's session lease: "this claim is alive";
 * - the record `<claims>/<nonce>/<item key>`, no lease, with the item's value: what to put back.
 * Both are written in the transaction that deletes the item; `done()` deletes both. A record
 * without its marker is an item whose worker's session ended: it is put back.
 */

/** The prefix of a queue's items as our consumers range it (Go ranges it without the slash). */
export function itemsPrefix(name: string): string {
  return `${name}/`;
}

/** Root of every claim the library keeps; reserved (see the layout above). */
export const CLAIMS_ROOT = '__etcd-concurrency/claims/';

/** The prefix of a queue's claims. */
export function claimsPrefix(name: string): string {
  return `${CLAIMS_ROOT}${encodeURIComponent(name)}/`;
}

/** A fresh claim nonce: 16 hex digits, never containing '/'. */
export function newNonce(): string {
  return randomBytes(8).toString('hex');
}

/** The keys of one claim. */
export interface ClaimKeys {
  marker: string;
  record: string;
  itemKey: string;
}

export function claimKeys(name: string, nonce: string, itemKey: string): ClaimKeys {
  const base = claimsPrefix(name) + nonce;
  return { marker: base, record: `${base}/${itemKey}`, itemKey };
}

/** Parses a key under {@link claimsPrefix}: a marker (`itemKey` undefined), a record, or neither. */
export function parseClaimKey(
  name: string,
  key: string,
): { nonce: string; itemKey: string | undefined } | undefined {
  const prefix = claimsPrefix(name);
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  const slash = rest.indexOf('/');
  const nonce = slash < 0 ? rest : rest.slice(0, slash);
  if (!/^[0-9a-f]{16}$/.test(nonce)) return undefined;
  return { nonce, itemKey: slash < 0 ? undefined : rest.slice(slash + 1) };
}

/** Go's `%05d` priority segment: `name/00003`. */
export function priorityPrefix(name: string, priority: number): string {
  return `${name}/${String(priority).padStart(5, '0')}`;
}

/** Go's bookkeeping key of one priority: `__name/00003`. */
export function sequenceGuardKey(name: string, priority: number): string {
  return `__${priorityPrefix(name, priority)}`;
}

/** Go's sequential key: `name/00003/0000000000000012`. */
export function sequentialKey(name: string, priority: number, sequence: bigint): string {
  return `${priorityPrefix(name, priority)}/${sequence.toString().padStart(16, '0')}`;
}

/** The priority of a PriorityQueue item key of queue `name`, if it has Go's shape. */
export function priorityOf(name: string, itemKey: string): number | undefined {
  const m = /^(\d{5})\/\d+$/.exec(itemKey.slice(itemsPrefix(name).length));
  return itemKey.startsWith(itemsPrefix(name)) && m ? Number(m[1]) : undefined;
}

/**
 * The sequence number after the last key of a priority (Go parses the last '/' segment as a
 * decimal number; no key yet gives 0).
 */
export function nextSequence(lastKey: string | undefined): bigint {
  if (lastKey === undefined) return 0n;
  const segment = lastKey.slice(lastKey.lastIndexOf('/') + 1);
  const m = /^\d+/.exec(segment);
  if (!m) {
    throw new Error(`PriorityQueue key "${lastKey}" does not end in a sequence number (Go's layout)`);
  }
  return BigInt(m[0]) + 1n;
}
