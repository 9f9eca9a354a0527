import type { Hold } from '../hold.js';
import type { Session } from '../session/session.js';

/** The holds and waits of one session by key: a session has one key per name, so calls share it. */
class SessionHolds {
  private readonly byKey = new Map<string, Promise<Hold>>();

  get(key: string): Promise<Hold> | undefined {
    return this.byKey.get(key);
  }

  set(key: string, pending: Promise<Hold>): void {
    this.byKey.set(key, pending);
  }

  /** Forgets `pending` if it is still the entry of `key` (a newer hold may have replaced it). */
  delete(key: string, pending: Promise<Hold>): void {
    if (this.byKey.get(key) === pending) this.byKey.delete(key);
  }
}

const registry = new WeakMap<Session, SessionHolds>();

export function sessionHolds(session: Session): SessionHolds {
  let holds = registry.get(session);
  if (!holds) {
    holds = new SessionHolds();
    registry.set(session, holds);
  }
  return holds;
}
