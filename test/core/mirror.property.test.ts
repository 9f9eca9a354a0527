/**
 * The prefix mirror against a real etcd, model-based: random batches of puts, deletes and
 * multi-key transactions are run against etcd while the mirror's client has its connections reset
 * (the watch resumes: events it already has come again, stale) or is cut off while the history is
 * compacted (the watch cannot resume: the mirror re-reads). After every step the mirror must equal
 * a Range read at its revision, in creation order, and its waiters must have been told they are
 * ready in the order a plain model of the queue says.
 *
 * A private etcd: compaction would break other files' watches on the shared one.
 */
import fc from 'fast-check';
import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { PrefixMirror } from '../../src/queue/mirror.js';
import { readPrefix } from '../../src/etcd/read.js';
import type { KeyValue } from '../../src/etcd/watch.js';
import { usePrivateEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { startProxy } from '../support/proxy.js';

const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];

type Step =
  | { op: 'put'; name: string }
  | { op: 'del'; name: string }
  | { op: 'txn'; puts: string[]; dels: string[] }
  | { op: 'reset' }
  | { op: 'compact-while-cut'; puts: string[]; dels: string[] };

const name = fc.constantFrom(...NAMES);
const names = fc.uniqueArray(name, { maxLength: 3 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: name.map((n) => ({ op: 'put' as const, name: n })) },
  { weight: 4, arbitrary: name.map((n) => ({ op: 'del' as const, name: n })) },
  {
    weight: 3,
    // one transaction, one revision; a key is either put or deleted in it (etcd refuses both)
    arbitrary: fc
      .tuple(names, names)
      .map(([puts, dels]) => ({ op: 'txn' as const, puts, dels: dels.filter((d) => !puts.includes(d)) })),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'reset' as const }) },
  {
    weight: 1,
    arbitrary: fc.tuple(names, names).map(([puts, dels]) => ({
      op: 'compact-while-cut' as const,
      puts,
      dels: dels.filter((d) => !puts.includes(d)),
    })),
  },
);

/** What the queue looks like: key → create revision, and who has been told "ready", in order. */
class Model {
  readonly keys = new Map<string, bigint>();
  readonly waiting = new Map<string, bigint>(); // key → the create revision it waits with
  readonly ready: string[] = [];

  apply(puts: string[], dels: string[], rev: bigint): void {
    for (const k of dels) this.keys.delete(k);
    for (const k of puts) if (!this.keys.has(k)) this.keys.set(k, rev);
    this.settle();
  }

  /** Waiters of a FIFO mutex: ready once theirs is the oldest key; dropped once their key is gone. */
  settle(): void {
    for (const [k, rev] of this.waiting) {
      if (this.keys.get(k) !== rev) this.waiting.delete(k);
    }
    const oldest = [...this.keys].sort((x, y) => (x[1] < y[1] ? -1 : 1))[0];
    if (oldest && this.waiting.get(oldest[0]) === oldest[1]) {
      this.waiting.delete(oldest[0]);
      this.ready.push(oldest[0]);
    }
  }
}

type Row = [string, bigint, bigint, string];
const row = (kv: KeyValue): Row => [kv.key, kv.createRevision, kv.modRevision, kv.value.toString()];
const byRevisionThenKey = (x: Row, y: Row) => (x[1] !== y[1] ? (x[1] < y[1] ? -1 : 1) : x[0] < y[0] ? -1 : 1);

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

describe('prefix mirror (model-based, real etcd)', () => {
  const etcd = usePrivateEtcd();

  async function txn(client: Etcd3, prefix: string, puts: string[], dels: string[]): Promise<bigint> {
    const res = await client.kv.txn({
      compare: [],
      success: [
        ...puts.map((n) => ({ request_put: { key: Buffer.from(prefix + n), value: Buffer.from(n) } })),
        ...dels.map((n) => ({ request_delete_range: { key: Buffer.from(prefix + n) } })),
      ],
      failure: [],
    });
    return BigInt(res.header.revision);
  }

  it('equals a Range read at its revision after every step, and readies waiters in queue order', async () => {
    const target = etcd.cluster().endpoints[0]!;
    const proxy = await startProxy(target);
    etcd.defer(() => proxy.close());
    const writer = etcd.client();
    const watched = etcd.client({ endpoints: [proxy.endpoint] });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 20 }), async (steps) => {
        const prefix = `${uniquePrefix('mirror')}q/`;
        const model = new Model();
        // the queue starts with every name in it, each with a waiter
        for (const n of NAMES) model.apply([n], [], await txn(writer, prefix, [n], []));
        const mirror = PrefixMirror.acquire(watched, prefix);
        const ready: string[] = [];
        const removers: (() => void)[] = [];
        try {
          await mirror.ready();
          await mirror.caughtUp(model.keys.get(NAMES.at(-1)!)!);
          for (const n of NAMES) {
            const rev = model.keys.get(n)!;
            model.waiting.set(n, rev);
            const remove = mirror.addWaiter({
              rev,
              key: prefix + n,
              isReady: (ahead) => ahead.length === 0,
              ready: () => ready.push(n),
            });
            expect(remove).not.toBe(false);
            if (remove) removers.push(remove);
            model.settle();
          }
          for (const s of steps) {
            let rev: bigint;
            if (s.op === 'reset') {
              proxy.reset(); // the watch resumes from its last revision
              continue;
            } else if (s.op === 'compact-while-cut') {
              proxy.cut();
              await txn(writer, prefix, s.puts, s.dels);
              // Compacted past the watch's resume revision: it cannot resume, the mirror re-reads.
              // (Compacting at exactly that revision is the separate case below.)
              await txn(writer, prefix, ['zz'], []);
              rev = await txn(writer, prefix, [], ['zz']);
              await writer.kv.compact({ revision: rev.toString(), physical: true });
              proxy.restore();
            } else if (s.op === 'txn') {
              rev = await txn(writer, prefix, s.puts, s.dels);
            } else {
              rev = await txn(writer, prefix, s.op === 'put' ? [s.name] : [], s.op === 'del' ? [s.name] : []);
            }
            const puts = s.op === 'put' ? [s.name] : s.op === 'del' ? [] : s.puts;
            // (zz, created and deleted while cut off, leaves the queue as it was)
            const dels = s.op === 'del' ? [s.name] : s.op === 'put' ? [] : s.dels;
            model.apply(puts, dels, rev);
            await within(mirror.caughtUp(rev), 20_000, `the mirror catching up with ${rev} after ${s.op}`);
            const read = await readPrefix(writer, prefix, { revision: mirror.revision });
            const seen = [...mirror.entries()].map(row);
            // creation order; keys of one transaction share a revision, and their order is free
            for (let i = 1; i < seen.length; i++) expect(seen[i]![1]).toBeGreaterThanOrEqual(seen[i - 1]![1]);
            expect(seen.sort(byRevisionThenKey)).toEqual(read.kvs.map(row).sort(byRevisionThenKey));
            expect(ready).toEqual(model.ready);
          }
        } finally {
          for (const remove of removers) remove();
          mirror.release();
        }
      }),
      { numRuns: 12, endOnFailure: true },
    );
  }, 120_000);

  it('sees the deletes at the compaction revision when its watch resumes from exactly there', async () => {
    // etcd's compaction at revision R drops the tombstones at R but keeps the puts: a watch that
    // resumes from R gets R's puts and not its deletes, and no compaction error either.
    const proxy = await startProxy(etcd.cluster().endpoints[0]!);
    etcd.defer(() => proxy.close());
    const writer = etcd.client();
    const watched = etcd.client({ endpoints: [proxy.endpoint] });
    const prefix = `${uniquePrefix('mirror')}q/`;
    let rev = 0n;
    for (const n of ['a', 'b', 'c']) rev = await txn(writer, prefix, [n], []);
    const mirror = PrefixMirror.acquire(watched, prefix);
    try {
      await mirror.ready();
      await mirror.caughtUp(rev);
      proxy.cut();
      rev = await txn(writer, prefix, ['d'], ['a', 'b']); // the revision the watch resumes from
      await writer.kv.compact({ revision: rev.toString(), physical: true });
      proxy.restore();
      rev = await txn(writer, prefix, ['e'], []);
      await within(mirror.caughtUp(rev), 10_000, 'the mirror catching up after the resume');
      const read = await readPrefix(writer, prefix, { revision: mirror.revision });
      expect([...mirror.entries()].map((kv) => kv.key)).toEqual(read.kvs.map((kv) => kv.key));
    } finally {
      mirror.release();
    }
  });
});
