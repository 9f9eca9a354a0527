import { randomBytes } from 'node:crypto';

/**
 * A fresh key prefix `t/<label>/<8 random hex>/`, so test files (and tests) can share one etcd in parallel
 * without seeing each other's keys.
 */
export function uniquePrefix(label: string): string {
  return `t/${label}/${randomBytes(4).toString('hex')}/`;
}
