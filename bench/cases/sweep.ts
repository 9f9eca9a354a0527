import { createClient } from '../lib.js';

/** How many keys are under `prefix`. */
export async function countKeys(endpoints: string[], prefix: string): Promise<number> {
  const client = createClient({ endpoints });
  try {
    return (await client.getAll().prefix(prefix).keys()).length;
  } finally {
    client.close();
  }
}

/**
 * After a case: counts the contenders' keys still under `contendersPrefix` (there should be none:
 * every session was closed, every etcd3 lease revoked), then deletes the case's whole prefix
 * (its data key and anything a failure left).
 */
export async function sweep(endpoints: string[], prefix: string, contendersPrefix: string): Promise<number> {
  const left = await countKeys(endpoints, contendersPrefix);
  const client = createClient({ endpoints });
  try {
    await client.delete().prefix(prefix);
    return left;
  } finally {
    client.close();
  }
}
