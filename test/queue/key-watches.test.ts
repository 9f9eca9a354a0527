import { describe, expect, it } from 'vitest';
import { keyDeletes, openKeyWatches } from '../../src/queue/key-watches.js';
import { eventually, useEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';

/** The shared, lingering watches of single keys' deletes that the chain wait uses. */
const etcd = useEtcd();

describe('keyDeletes()', () => {
  it('reports each delete with its revision, also one that came before a listener was added', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('key-watches')}a`;
    await client.put(key).value('1');
    const deletes = keyDeletes(client, key);
    const created = await deletes.created;
    expect(deletes.lastDelete).toBe(0n);
    const res = await client.delete().key(key).exec();
    const deletedAt = BigInt(res.header.revision);
    expect(deletedAt).toBeGreaterThan(created);
    await eventually(() => deletes.lastDelete === deletedAt, 5000, 'the delete to arrive');
    // A second use of the same key shares the watch and sees what it saw.
    const again = keyDeletes(client, key);
    expect(again.lastDelete).toBe(deletedAt);
    expect(openKeyWatches(client)).toBe(1);
    const seen: bigint[] = [];
    again.onDelete((revision) => seen.push(revision));
    await client.put(key).value('2');
    const second = BigInt((await client.delete().key(key).exec()).header.revision);
    await eventually(() => seen.length === 1, 5000, 'the second delete');
    expect(seen).toEqual([second]);
    deletes.release();
    again.release();
  });

  it('keeps at most 2 unused watches per client, and closes them 2 s after their last use', async () => {
    const client = etcd.client();
    const prefix = uniquePrefix('key-watches');
    const uses = ['a', 'b', 'c', 'd'].map((k) => keyDeletes(client, `${prefix}${k}`));
    await Promise.all(uses.map((u) => u.created));
    expect(openKeyWatches(client)).toBe(4);
    for (const u of uses) u.release();
    expect(openKeyWatches(client)).toBe(2); // the two used last linger
    await eventually(() => openKeyWatches(client) === 0, 5000, 'the lingering watches to close');
  });

  it('a use of a lingering watch keeps it open, and the client closing fails its users', async () => {
    const client = etcd.client();
    const key = `${uniquePrefix('key-watches')}x`;
    const first = keyDeletes(client, key);
    await first.created;
    first.release();
    const second = keyDeletes(client, key);
    await new Promise((r) => setTimeout(r, 2300));
    expect(openKeyWatches(client)).toBe(1); // in use again: no linger timer runs
    const failed = new Promise<Error>((resolve) => second.onFailure(resolve));
    client.close();
    expect((await failed).message).toMatch(/closed/);
    expect(openKeyWatches(client)).toBe(0);
  });
});
