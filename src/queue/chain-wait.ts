import type { Etcd3, IRangeRequest, IRangeResponse } from 'etcd3';
import { clientState, slotKey } from '../etcd/client-state.js';
import { translateError } from '../etcd/etcd-errors.js';
import { type KeyValue, prefixRangeEnd, toKeyValue } from '../etcd/kv.js';
import { pause, retryUntilAborted } from '../etcd/retry.js';
import { keyDeletes } from './key-watches.js';
import type { Session } from '../session/session.js';
import { keyGone } from './mirror-wait.js';

/**
 * The wait of an exclusive contender (a Mutex, a writer, a candidate) that is the only waiter of
 * its client on the queue: it watches only the key just ahead of it, as Go's `waitDeletes` does,
 * so what a release costs etcd and the clients does not grow with the number of clients (a mirror
 * of the prefix in every client of a fleet receives every put and delete: 2N events per
 * acquisition). Unlike Go, the watch is created from now, so etcd syncs it at once: a watch from
 * an older revision waits up to 100 ms for etcd's catch-up loop, on the critical path of a short
 * queue. The gap between the revision at which the key ahead was seen and the watch's creation is
 * closed by one read of that key, made only if anything was written in between.
 *
 * When the key ahead is deleted, one read says what is ahead now (the newest key older than ours):
 * nothing — we are first, at that read's revision; another key — it is watched in turn (the key
 * ahead abandoned its wait, or a key further ahead still holds).
 */

/** A key ahead in the queue, as the chain needs it. */
export interface Ahead {
  key: string;
  createRevision: bigint;
}

export interface ChainWait {
  client: Etcd3;
  session: Session;
  /** The queue's prefix. */
  prefix: string;
  /** The own key, as created. */
  own: KeyValue;
  /** The newest key older than ours, as of `knownAt`, if the enqueue transaction saw it. */
  ahead: Ahead | undefined;
  /** The revision at which `ahead` was known to exist. */
  knownAt: bigint;
  /** Patience for reads: the caller's and the session's signals (either ends it). */
  patience: readonly AbortSignal[];
  /** The caller's signal (undefined: waits until the session ends). */
  signal: AbortSignal | undefined;
}

/**
 * Resolves with the revision at which the own key was first in the queue (present, nothing older
 * under the prefix). Rejects with the caller's abort reason, the session's end, or — if the own
 * key was found gone — why it went. The caller builds its hold in the same instant and checks the
 * session's deadline; the caller deletes the own key if this rejects.
 */
export async function waitInChain(wait: ChainWait): Promise<bigint> {
  let ahead = wait.ahead;
  let knownAt = wait.knownAt;
  for (;;) {
    if (!ahead) {
      const now = await readAhead(wait, knownAt);
      if (!now.self) throw await keyGone(wait.session, wait.own.key, 'while waiting');
      if (!now.ahead) return now.revision;
      ahead = now.ahead;
      knownAt = now.revision;
    }
    knownAt = await aheadGone(wait, ahead, knownAt);
    ahead = undefined;
  }
}

/**
 * What the chain reads: the own key and the newest key older than it, in one range that reflects
 * at least `atLeast` (the revision of the delete that sent us here).
 */
async function readAhead(
  wait: ChainWait,
  atLeast: bigint,
): Promise<{ self: boolean; ahead: Ahead | undefined; revision: bigint }> {
  const { prefix, own } = wait;
  const res = await readAtLeast(
    wait,
    atLeast,
    {
      key: Buffer.from(prefix),
      range_end: prefixRangeEnd(prefix),
      sort_target: 'Create',
      sort_order: 'Descend',
      max_create_revision: own.createRevision.toString(),
      limit: 2,
      keys_only: true,
    },
    own.key,
  );
  const kvs = res.kvs.map(toKeyValue);
  const self = kvs[0]?.key === own.key && kvs[0].createRevision === own.createRevision;
  const next = self ? kvs[1] : undefined;
  return {
    self,
    ahead: next ? { key: next.key, createRevision: next.createRevision } : undefined,
    revision: BigInt(res.header.revision),
  };
}

/**
 * Resolves once `ahead` is deleted (or found already gone), through the shared watch of its key
 * (./key-watches.ts): a delete above `knownAt` is the one we wait for (`ahead` existed then);
 * one at or below it ended an earlier incarnation of the key. A watch created above `knownAt`
 * may have missed the delete: one read of the key closes that gap. Rejects on the caller's
 * abort, the session's end, or the watch's failure (the client was closed).
 */
function aheadGone(wait: ChainWait, ahead: Ahead, knownAt: bigint): Promise<bigint> {
  const { client, session, signal } = wait;
  const deletes = keyDeletes(client, ahead.key);
  return new Promise<bigint>((resolve, reject) => {
    let settled = false;
    const cleanup: (() => void)[] = [];
    const finish = (err: Error | undefined, goneAt = knownAt) => {
      if (settled) return;
      settled = true;
      for (const fn of cleanup) fn();
      deletes.release();
      if (err) reject(err);
      else resolve(goneAt);
    };
    for (const s of [signal, session.signal]) {
      if (!s) continue;
      if (s.aborted) {
        finish(s.reason as Error);
        return;
      }
      const onAbort = () => {
        finish(s.reason as Error);
      };
      s.addEventListener('abort', onAbort, { once: true });
      cleanup.push(() => {
        s.removeEventListener('abort', onAbort);
      });
    }
    if (deletes.lastDelete > knownAt) {
      finish(undefined, deletes.lastDelete);
      return;
    }
    deletes.onDelete((revision) => {
      if (revision > knownAt) finish(undefined, revision);
    });
    deletes.onFailure(finish);
    deletes.created.then(
      (created) => {
        if (created <= knownAt || settled) return;
        stillThere(wait, ahead, created).then(
          ({ present, revision }) => {
            if (!present) finish(undefined, revision);
          },
          (err: unknown) => {
            finish(err as Error);
          },
        );
      },
      () => undefined, // onFailure reports it
    );
  });
}

/** Whether `ahead` exists with the create revision we know, as of `atLeast` or later. */
async function stillThere(
  wait: ChainWait,
  ahead: Ahead,
  atLeast: bigint,
): Promise<{ present: boolean; revision: bigint }> {
  const res = await readAtLeast(wait, atLeast, { key: Buffer.from(ahead.key), keys_only: true }, ahead.key);
  const kv = res.kvs[0];
  return {
    present: kv !== undefined && BigInt(kv.create_revision) === ahead.createRevision,
    revision: BigInt(res.header.revision),
  };
}

/**
 * A range read that reflects at least revision `atLeast`: served by the member the client talks
 * to without a round through the raft leader (serializable), which is as good as linearizable
 * here because the revision we need is one that the cluster already reported to us. A member that
 * answers from an older state (another member of the cluster, catching up) is asked again a few
 * times, then the read goes through the leader (linearizable) with a short deadline of its own: a
 * waiting call must not sit out the client's whole call deadline in a leader election.
 */
async function readAtLeast(
  wait: ChainWait,
  atLeast: bigint,
  request: IRangeRequest,
  key: string,
): Promise<IRangeResponse> {
  const { client, patience } = wait;
  try {
    for (const gap of LAGGING_MEMBER_PAUSES_MS) {
      const local = await retryUntilAborted(
        () => client.kv.range({ ...request, serializable: true }),
        patience,
      );
      if (BigInt(local.header.revision) >= atLeast) return local;
      await pause(gap, patience);
    }
    return await retryUntilAborted(
      () => client.kv.range(request, { deadline: Date.now() + LINEARIZABLE_READ_DEADLINE_MS }),
      patience,
    );
  } catch (err) {
    throw abortedBy(patience) ?? translateError(err, client, key);
  }
}

/** Pauses between serializable reads that found the member behind (then one linearizable read). */
const LAGGING_MEMBER_PAUSES_MS = [5, 25, 100];
/** The deadline of the linearizable fallback read, retried until the wait's patience ends. */
const LINEARIZABLE_READ_DEADLINE_MS = 1000;

/** The reason of the first of `signals` that aborted, if any did. */
function abortedBy(signals: readonly AbortSignal[]): Error | undefined {
  const aborted = signals.find((s) => s.aborted);
  return aborted ? (aborted.reason as Error) : undefined;
}

const CHAINS = slotKey<Set<string>>('chain waiters');

/**
 * Claims the chain for `prefix` on `client` if nobody of this client waits in it: a client with
 * several waiters on one queue is better served by one mirror of the prefix (two events per
 * release whatever the number of its waiters). Returns the release of the claim, or undefined.
 */
export function claimChain(client: Etcd3, prefix: string): (() => void) | undefined {
  const chains = clientState(client).slot(CHAINS, () => new Set<string>());
  if (chains.has(prefix)) return undefined;
  chains.add(prefix);
  return () => {
    chains.delete(prefix);
  };
}
