import { type HeldWork, type HoldForeverOptions, holdForever } from '../queue/hold-forever.js';
import type { Hold } from '../queue/hold.js';
import type { Session } from '../session/session.js';

/** Options of `mutex.runExclusive()`: those of `election.lead()` without a campaign value. */
export type RunExclusiveOptions = HoldForeverOptions;

/** The part of a Mutex the loop needs (the class itself would be a circular import). */
interface Locker {
  readonly name: string;
  readonly session: Session;
  lock(options: { signal: AbortSignal }): Promise<Hold>;
}

/**
 * `mutex.runExclusive()`: locks `mutex` while its session lives, then `forSession(newSession)`
 * on each session the loop creates. A hold given back outside the loop (`mutex.unlock()` on the
 * same session) is not noticed until the hold is lost: stop the loop with its signal instead.
 * @internal
 */
export function runExclusive(
  mutex: Locker,
  forSession: (session: Session) => Locker,
  work: HeldWork,
  options: RunExclusiveOptions,
): Promise<void> {
  return holdForever(
    {
      what: `Mutex "${mutex.name}"`,
      name: mutex.name,
      session: mutex.session,
      async acquire(session, signal) {
        const locker = session === mutex.session ? mutex : forSession(session);
        const hold = await locker.lock({ signal });
        return { hold, release: () => hold.release() };
      },
    },
    work,
    options,
  );
}
