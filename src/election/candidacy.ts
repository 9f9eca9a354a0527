import { type Observable, ReplaySubject } from 'rxjs';
import type { Hold } from '../queue/hold.js';
import type { SharedWait } from '../queue/shared-wait.js';
import type { Session } from '../session/session.js';

const registry = new WeakMap<Session, Map<string, Candidacy>>();

/**
 * One session's place in one election: the state only. The algorithm that changes it (campaign,
 * proclaim, resign) lives in ./election.ts, which would pass 300 lines with this in it too.
 *
 * A session has one key per election (Go's layout), so every `Election` object of that session
 * and name shares this state, as Go's do through the key: a second campaign joins the first, and
 * `resign()` from any of them withdraws the session.
 *
 * State kept across failures, so that a failed call can be retried (Go forgets it: etcd#22123):
 * - `hold`: the leadership while this process believes it leads;
 * - `term`: the own key's create revision from the moment we win until a resign is confirmed or
 *   the key is known gone; proclaim and resign are guarded by it. `null` means "we may own a key
 *   whose revision we do not know" (a withdrawn campaign whose cleanup failed): the next resign
 *   deletes it guarded by our lease instead.
 * @internal
 */
export class Candidacy {
  /** The campaign under way, joined by every campaign() of this session meanwhile. */
  pending: SharedWait<Hold> | undefined;
  /** A resign() in flight: a new campaign waits for it, so its delete never meets the new key. */
  resigning: Promise<void> | undefined;
  hold: Hold | undefined;
  term: bigint | null | undefined;
  /** The value the own key holds, as far as this process knows. */
  value: Buffer | undefined;
  private leading = false;
  private sessionEnded = false;
  private readonly leading$ = new ReplaySubject<boolean>(1);

  private constructor(
    readonly session: Session,
    readonly name: string,
    readonly key: string,
    readonly prefix: string,
  ) {
    this.leading$.next(false);
    const ended = () => {
      this.setLeading(false);
      this.sessionEnded = true;
      this.leading$.complete();
    };
    if (session.isActive) session.signal.addEventListener('abort', ended, { once: true });
    else ended();
  }

  /** The candidacy of `session` in the election at `prefix`, shared by its Election objects. */
  static of(session: Session, name: string, key: string, prefix: string): Candidacy {
    let byKey = registry.get(session);
    if (!byKey) {
      byKey = new Map();
      registry.set(session, byKey);
    }
    let candidacy = byKey.get(key);
    if (!candidacy) {
      candidacy = new Candidacy(session, name, key, prefix);
      byKey.set(key, candidacy);
    }
    return candidacy;
  }

  get isLeader$(): Observable<boolean> {
    return this.leading$.asObservable();
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get currentHold(): Hold | undefined {
    return this.hold?.isHeld && !this.hold.releaseRequested ? this.hold : undefined;
  }

  /** Gives up the leadership of `hold`; on failure the term stays, so that resign() can retry. */
  async releaseHold(hold: Hold): Promise<void> {
    // Stop the leader's work before etcd hands leadership to the next candidate.
    if (this.hold === hold) this.setLeading(false);
    const term = hold.fencingToken;
    await hold.release(); // guarded by the create revision; throws only while the session lives
    if (this.term === term) this.term = undefined;
  }

  /** Called once when a hold ends: released (also a failed release) or lost. */
  ended(hold: Hold): void {
    if (this.hold !== hold) return;
    this.hold = undefined;
    // Lost: the key of this term is gone (or goes with the lease). A release keeps the term
    // until resign() confirms the delete, so that a failed resign can be retried.
    if (hold.signal.aborted && this.term === hold.fencingToken) this.term = undefined;
    this.setLeading(false);
  }

  setLeading(leading: boolean): void {
    if (this.leading === leading || this.sessionEnded) return;
    this.leading = leading;
    this.leading$.next(leading);
  }
}
