import { hostname } from 'node:os';
import type { Observable } from 'rxjs';
import type { Hold } from '../queue/hold.js';
import { type HeldWork, type HoldForeverOptions, holdForever } from '../queue/hold-forever.js';
import type { Session } from '../session/session.js';

/** The default campaign value: which process leads, for humans reading the election. */
function defaultValue(): string {
  return `${hostname()}:${process.pid}`;
}

/** Options of {@link Election.lead}. */
export interface LeadOptions extends HoldForeverOptions {
  /**
   * The value to campaign with (what `election.leader()` and observers see).
   * @default `${hostname}:${pid}` of this process
   */
  value?: string | Buffer;
}

/** The part of an Election the loop needs (the class itself would be a circular import). */
interface Campaigner {
  readonly name: string;
  readonly session: Session;
  readonly isLeader$: Observable<boolean>;
  campaign(value: string | Buffer, options: { signal: AbortSignal }): Promise<Hold>;
  resign(): Promise<void>;
}

/**
 * `election.lead()`: campaigns with `election` while its session lives, then with
 * `forSession(newSession)` on each session the loop creates.
 * @internal
 */
export function leadElection(
  election: Campaigner,
  forSession: (session: Session) => Campaigner,
  work: HeldWork,
  options: LeadOptions,
): Promise<void> {
  const value = options.value ?? defaultValue();
  return holdForever(
    {
      what: `Election "${election.name}"`,
      name: election.name,
      session: election.session,
      async acquire(session, signal) {
        const candidate = session === election.session ? election : forSession(session);
        const hold = await candidate.campaign(value, { signal });
        return {
          hold,
          release: () => candidate.resign(),
          onReleased(listener) {
            // isLeader$ replays the current answer: false here means the term is already over.
            const sub = candidate.isLeader$.subscribe((leading) => {
              if (!leading) listener();
            });
            return () => {
              sub.unsubscribe();
            };
          },
        };
      },
    },
    work,
    options,
  );
}
