import type { Ticket } from '../queue/queue.js';
import { Hold } from '../queue/hold.js';
import type { Session } from '../session/session.js';

/**
 * Permits of a {@link Semaphore}, held until {@link release} (or `await using` scope end), the
 * session's end or the deletion of its key. A {@link Hold}: `fencingToken`, `signal`, guarded
 * `txn()`, idempotent guarded `release()`.
 */
export class Permit extends Hold {
  /** How many permits this hold counts for. */
  readonly weight: number;
  /** The value stored with the contender key. */
  readonly value: string;

  /** @internal Built by {@link Semaphore.acquire}. */
  constructor(session: Session, ticket: Ticket, weight: number, value: string) {
    super(session, ticket);
    this.weight = weight;
    this.value = value;
  }
}
