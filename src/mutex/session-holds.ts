import { clientState, slotKey } from '../etcd/client-state.js';
import type { SharedWait } from '../queue/shared-wait.js';
import type { Hold } from '../queue/hold.js';
import type { Session } from '../session/session.js';

/**
 * What occupies one session key right now: a hold, a wait that later calls join, or a call that
 * others must let finish first (a tryLock's transaction, a withdrawn wait cleaning up).
 */
export type Slot = Hold | SharedWait<Hold> | { busy: Promise<unknown> };

/**
 * The calls on each key of a lease: a session has one key per Mutex name, so calls share it and
 * never run two operations on it at once. Keyed by client and lease, not by Session object: two
 * Sessions attached to one lease own the same keys in etcd.
 */
class SessionHolds {
  private readonly byKey = new Map<string, Slot>();

  get(key: string): Slot | undefined {
    return this.byKey.get(key);
  }

  set(key: string, slot: Slot): void {
    this.byKey.set(key, slot);
  }

  /** Forgets `slot` if it is still the entry of `key` (a newer one may have replaced it). */
  delete(key: string, slot: Slot): void {
    if (this.byKey.get(key) === slot) this.byKey.delete(key);
  }
}

/** The client's mutex slots, by session lease. */
const HOLDS = slotKey<Map<string, SessionHolds>>('mutex holds by lease');

export function sessionHolds(session: Session): SessionHolds {
  const byLease = clientState(session.client).slot(HOLDS, () => new Map<string, SessionHolds>());
  let holds = byLease.get(session.leaseId);
  if (!holds) {
    holds = new SessionHolds();
    byLease.set(session.leaseId, holds);
    const forget = () => byLease.delete(session.leaseId);
    if (session.isActive) session.signal.addEventListener('abort', forget, { once: true });
  }
  return holds;
}
