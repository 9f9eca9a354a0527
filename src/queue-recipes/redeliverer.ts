import type { Etcd3 } from 'etcd3';
import { clientState, slotKey } from '../etcd/client-state.js';
import { PrefixMirror } from '../queue/mirror.js';
import type { Session } from '../session/session.js';
import { claimKeys, claimsPrefix, parseClaimKey } from './layout.js';
import { putBack } from './put-back.js';

/** The client's redeliverers, by queue name. */
const REDELIVERERS = slotKey<Map<string, Redeliverer>>('queue redeliverers');
const enlisted = new WeakMap<Session, Set<string>>();

/**
 * Puts back the items of claims whose worker's session ended, for one queue on one client.
 *
 * Who notices a dead worker: every live worker of the queue. Each client that takes with a
 * session mirrors the queue's claims (one watch on the claims prefix) for as long as one of its
 * sessions that took from the queue lives. When a worker's lease ends, etcd deletes its claim
 * markers; every mirror sees the delete, and each live worker tries the guarded put-back
 * transaction (marker still gone, record unchanged): exactly one succeeds, the rest fail their
 * compares. The dead worker takes no part. A record found without a marker when a mirror starts
 * (no worker was alive at the time) is put back the same way.
 */
export class Redeliverer {
  private refs = 0;
  private readonly inFlight = new Set<string>();
  private readonly stops: (() => void)[] = [];
  private retryTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly client: Etcd3,
    private readonly name: string,
    private readonly mirror: PrefixMirror,
  ) {
    this.stops.push(
      mirror.onChange(() => {
        this.scan();
      }),
    );
    // A shared mirror may be ready already (it will not report its initial read again).
    mirror.ready().then(
      () => {
        this.scan();
      },
      () => undefined, // its takers hear of a failure; nothing to put back without a mirror
    );
  }

  /** Keeps the queue's claims watched on the session's client until the session ends. */
  static enlist(session: Session, name: string): void {
    let names = enlisted.get(session);
    if (!names) {
      names = new Set();
      enlisted.set(session, names);
    }
    if (names.has(name) || !session.isActive) return;
    names.add(name);
    const r = Redeliverer.acquire(session.client, name);
    void session.done.then(() => {
      r.release();
    });
  }

  private static acquire(client: Etcd3, name: string): Redeliverer {
    const byName = clientState(client).slot(REDELIVERERS, () => new Map<string, Redeliverer>());
    let r = byName.get(name);
    if (!r) {
      r = new Redeliverer(client, name, PrefixMirror.acquire(client, claimsPrefix(name)));
      byName.set(name, r);
    }
    r.refs++;
    return r;
  }

  private release(): void {
    if (--this.refs > 0) return;
    for (const stop of this.stops.splice(0)) stop();
    clearTimeout(this.retryTimer);
    const byName = clientState(this.client).peek(REDELIVERERS);
    if (byName?.get(this.name) === this) byName.delete(this.name);
    this.mirror.release();
  }

  /** Tries to put back every record whose marker is gone. Few claims exist at a time: a scan is cheap. */
  private scan(): void {
    if (this.refs === 0) return;
    for (const kv of this.mirror.entries()) {
      const parsed = parseClaimKey(this.name, kv.key);
      if (!parsed?.itemKey) continue;
      const keys = claimKeys(this.name, parsed.nonce, parsed.itemKey);
      if (this.mirror.get(keys.marker) || this.inFlight.has(kv.key)) continue;
      this.inFlight.add(kv.key);
      putBack(this.client, this.name, keys, kv, {
        compare: [{ key: Buffer.from(keys.marker), target: 'Version', result: 'Equal', version: 0 }],
        holds: (marker) => marker === undefined,
      }).then(
        () => {
          this.inFlight.delete(kv.key);
        },
        () => {
          // etcd unreachable: another live worker may succeed; else try again shortly.
          this.inFlight.delete(kv.key);
          this.retryTimer ??= setTimeout(() => {
            this.retryTimer = undefined;
            this.scan();
          }, 500);
          this.retryTimer.unref();
        },
      );
    }
  }
}
