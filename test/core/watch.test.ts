import { describe, expect, it } from 'vitest';
import { firstValueFrom, type Subscription, take, toArray } from 'rxjs';
import { PrefixMirror } from '../../src/queue/mirror.js';
import { watch, WatchCompactedError, type WatchEvent } from '../../src/etcd/watch.js';
import { Mutex } from '../../src/index.js';
import { startProxy } from '../support/proxy.js';
import { eventually, useEtcd, usePrivateEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';

const shared = useEtcd();

describe('core/watch', () => {
  it('reports puts and deletes under a prefix in revision order, from a start revision', async () => {
    const client = shared.client();
    const prefix = uniquePrefix('watch');
    const first = await client.put(`${prefix}a`).value('1').exec();
    await client.put(`${prefix}b`).value('2');
    await client.delete().key(`${prefix}a`);
    const events = await firstValueFrom(
      watch(client, { prefix }, { startRevision: BigInt(first.header.revision) }).pipe(take(1), toArray()),
    );
    const flat = events.flatMap((b) => b.events).map((e) => `${e.type}:${e.kv.key.slice(prefix.length)}`);
    expect(flat).toEqual(['put:a', 'put:b', 'delete:a']);
  });

  it('filters event types and stops watching on unsubscribe', async () => {
    const client = shared.client();
    const key = `${uniquePrefix('watch')}k`;
    const seen: WatchEvent[] = [];
    let created = false;
    const sub = watch(client, { key }, { only: 'delete', onCreated: () => (created = true) }).subscribe((b) =>
      seen.push(...b.events),
    );
    await eventually(() => created, 5000, 'watch created');
    await client.put(key).value('x');
    await client.delete().key(key);
    await eventually(() => seen.length === 1, 5000, 'one delete');
    expect(seen[0]!.type).toBe('delete');
    sub.unsubscribe();
    await client.put(key).value('y');
    await client.delete().key(key);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toHaveLength(1);
  });

  it('reports a compacted start revision as WatchCompactedError', async () => {
    const client = shared.client();
    const key = `${uniquePrefix('watch')}old`;
    const put = await client.put(key).value('1').exec();
    const later = await client.put(key).value('2').exec();
    await client.kv.compact({ revision: later.header.revision, physical: true });
    const err = await firstValueFrom(
      watch(client, { key }, { startRevision: BigInt(put.header.revision) }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WatchCompactedError);
    expect((err as WatchCompactedError).compactRevision).toBeGreaterThanOrEqual(
      BigInt(later.header.revision),
    );
  });
});

describe('core/watch and the mirror across an etcd restart', () => {
  const own = usePrivateEtcd({ members: 1 });

  it('resumes after a restart without losing or repeating events', async () => {
    const client = own.client();
    const writer = own.client();
    const prefix = uniquePrefix('watch');
    const seen: string[] = [];
    let created = false;
    const sub: Subscription = watch(client, { prefix }, { onCreated: () => (created = true) }).subscribe(
      (b) => {
        for (const e of b.events)
          seen.push(`${e.type}:${e.kv.key.slice(prefix.length)}:${e.kv.value.toString()}`);
      },
    );
    await eventually(() => created, 5000, 'watch created');
    await writer.put(`${prefix}k`).value('1');
    await eventually(() => seen.length === 1, 5000, 'first event');
    const member = own.cluster().members[0]!;
    await member.kill('SIGKILL');
    await member.start();
    // Written while the watcher's stream is still reconnecting: must arrive exactly once.
    for (let i = 2; i <= 5; i++) {
      for (;;) {
        try {
          await writer.put(`${prefix}k`).value(String(i));
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
    await eventually(() => seen.length >= 5, 10_000, 'events after restart');
    await new Promise((r) => setTimeout(r, 200));
    sub.unsubscribe();
    expect(seen).toEqual(['put:k:1', 'put:k:2', 'put:k:3', 'put:k:4', 'put:k:5']);
  });

  it('hands a mutex over to a waiter that was waiting across an etcd restart', async () => {
    const client = own.client();
    const name = `${uniquePrefix('restart')}lock`;
    const holder = await new Mutex(await own.session(client, { ttl: 10 }), name).lock();
    const waiter = new Mutex(await own.session(client, { ttl: 10 }), name);
    const pending = waiter.lock();
    await eventually(
      async () => (await client.getAll().prefix(`${name}/`).keys()).length === 2,
      5000,
      'queued',
    );
    const member = own.cluster().members[0]!;
    await member.kill('SIGKILL');
    await member.start();
    for (;;) {
      try {
        await holder.release();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const hold = await pending;
    expect(hold.isHeld).toBe(true);
    expect(await waiter.isOwner()).toBe(true);
    await hold.release();
  });

  it('re-reads the prefix when compaction leaves its watch no way to resume', async () => {
    const proxy = await startProxy(own.cluster().endpoints[0]!);
    const client = own.client({ endpoints: [proxy.endpoint] });
    const writer = own.client();
    const prefix = uniquePrefix('mirror');
    const mirror = PrefixMirror.acquire(client, prefix);
    try {
      await mirror.ready();
      await writer.put(`${prefix}a`).value('1');
      await eventually(() => mirror.get(`${prefix}a`) !== undefined, 5000, 'a mirrored');
      // Cut the mirror's client off; meanwhile a key is deleted, another created, history compacted.
      proxy.cut();
      await writer.delete().key(`${prefix}a`);
      const rev = (await writer.put(`${prefix}b`).value('2').exec()).header.revision;
      await writer.kv.compact({ revision: rev, physical: true });
      expect(mirror.get(`${prefix}a`)).toBeDefined();
      proxy.resume();
      await eventually(
        () => mirror.get(`${prefix}a`) === undefined && mirror.get(`${prefix}b`) !== undefined,
        10_000,
        'mirror caught up',
      );
      expect([...mirror.entries()].map((kv) => kv.key)).toEqual([`${prefix}b`]);
      expect(mirror.error).toBeUndefined();
    } finally {
      mirror.release();
      await proxy.close();
    }
  });
});

describe('core/mirror', () => {
  it('applies every change of a transaction that touches several keys at one revision', async () => {
    const client = shared.client();
    const writer = shared.client();
    const prefix = uniquePrefix('mirror');
    await writer.put(`${prefix}a`).value('1');
    const mirror = PrefixMirror.acquire(client, prefix);
    try {
      await mirror.ready();
      expect(mirror.get(`${prefix}a`)).toBeDefined();
      await writer
        .if(`${prefix}a`, 'Version', '>', 0)
        .then(
          writer.put(`${prefix}b`).value('2'),
          writer.delete().key(`${prefix}a`),
          writer.put(`${prefix}c`).value('3'),
        )
        .commit();
      await eventually(() => mirror.get(`${prefix}c`) !== undefined, 5000, 'txn mirrored');
      expect([...mirror.entries()].map((kv) => kv.key)).toEqual([`${prefix}b`, `${prefix}c`]);
    } finally {
      mirror.release();
    }
  });
});
