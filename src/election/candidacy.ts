import { EtcdLeaseInvalidError } from 'etcd3';
import { type Observable, ReplaySubject } from 'rxjs';
import { translateError } from '../etcd/etcd-errors.js';
import { untilAborted } from '../etcd/abort.js';
import { enqueue, leftBehind } from '../queue/queue.js';
import { SharedWait } from '../queue/shared-wait.js';
import { addSuppressed, deleteIfCreated } from '../queue/guarded.js';
import { retryIdempotent } from '../etcd/retry.js';
import { NotLeaderError } from '../errors.js';
import { Hold } from '../queue/hold.js';
import type { Session } from '../session/session.js';

const registry = new WeakMap<Session, Map<string, Candidacy>>();

/**
 * One session's place in one election. A session has one key per election (Go's layout), so every
 * `Election` object of that session and name shares this state, as Go's do through the key:
 * a second campaign joins the first, and `resign()` from any of them withdraws the session.
 *
 * State kept across failures, so that a failed call can be retried (Go forgets it: etcd#22123):
 * - `hold`: the leadership while this process believes it leads;
 * - `term`: the own key's create revision from the moment we win until a resign is confirmed or
 *   the key is known gone; proclaim and resign are guarded by it. `null` means "we may own a key
 *   whose revision we do not know" (a withdrawn campaign whose cleanup failed): the next resign
 *   deletes it guarded by our lease instead.
 */
export class Candidacy {
  private pending: SharedWait<Hold> | undefined;
  /** A resign() in flight: a new campaign waits for it, so its delete never meets the new key. */
  private resigning: Promise<void> | undefined;
  private hold: Hold | undefined;
  private term: bigint | null | undefined;
  private value: Buffer | undefined;
  private leading = false;
  private sessionEnded = false;
  private readonly leading$ = new ReplaySubject<boolean>(1);

  private constructor(
    private readonly session: Session,
    private readonly name: string,
    private readonly key: string,
    private readonly prefix: string,
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

  async campaign(value: string | Buffer, signal: AbortSignal | undefined): Promise<Hold> {
    signal?.throwIfAborted();
    this.session.throwIfEnded();
    let hold = this.currentHold;
    while (!hold) {
      const unreleased = this.hold?.releaseRequested ? this.hold : undefined;
      if (unreleased) {
        // A resign whose delete failed may have run: finish it before campaigning again.
        await untilAborted(this.releaseHold(unreleased), signal);
      } else if (this.resigning) {
        await untilAborted(this.resigning.catch(noop), signal);
      } else if (this.pending?.withdrawn) {
        await untilAborted(this.pending.promise.catch(noop), signal);
      } else {
        // A campaign of this session under way is joined (each caller under its own signal)
        // rather than raced for the same key.
        hold = await (this.pending ?? this.start(value)).join(signal);
      }
      hold ??= this.currentHold;
    }
    // Campaigning again while leader keeps the leadership and updates the value (Go's behaviour).
    await this.proclaimIfChanged(value);
    return hold;
  }

  async proclaim(value: string | Buffer): Promise<void> {
    const term = this.term;
    if (term === undefined || term === null) {
      throw new NotLeaderError(
        `Election "${this.name}": this session is not the leader${this.pending ? ' (its campaign is still waiting)' : ''}; campaign() first`,
      );
    }
    const client = this.session.client;
    const key = Buffer.from(this.key);
    const data = Buffer.from(value);
    let succeeded: boolean;
    try {
      const res = await retryIdempotent(() =>
        client.kv.txn({
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: term.toString() }],
          success: [{ request_put: { key, value: data, lease: this.session.leaseId } }],
          failure: [],
        }),
      );
      succeeded = res.succeeded;
    } catch (err) {
      if (err instanceof EtcdLeaseInvalidError) {
        this.session.reportLeaseGone();
        this.session.throwIfEnded();
      }
      throw translateError(err, client, this.key);
    }
    if (!succeeded) {
      if (this.term === term) this.term = undefined;
      throw new NotLeaderError(
        `Election "${this.name}": leadership is lost, key "${this.key}" (term ${term}) no longer exists: ` +
          `its lease ended or another client deleted it; campaign() again`,
      );
    }
    this.value = data;
  }

  async resign(): Promise<void> {
    while (this.resigning) await this.resigning.catch(noop);
    const resigning = this.withdrawAndResign();
    this.resigning = resigning;
    try {
      await resigning;
    } finally {
      if (this.resigning === resigning) this.resigning = undefined;
    }
  }

  private async withdrawAndResign(): Promise<void> {
    const pending = this.pending;
    if (pending) {
      pending.withdraw(
        new DOMException(`The campaign in election "${this.name}" was withdrawn by resign()`, 'AbortError'),
      );
      const failure = await pending.promise.then(
        () => undefined,
        (err: unknown) => err,
      );
      // The queue deletes the key of a withdrawn campaign; if that failed (etcd unreachable), it
      // said so on the error, with the key's revision when known. Until a delete succeeds, the
      // term makes the next resign() try again (`null`: revision unknown, guarded by our lease —
      // safe, as no campaign of this session can start before this resign ends).
      if (failure !== undefined && leftBehind(failure) !== undefined && this.session.isActive) {
        this.term = leftBehind(failure)?.createRevision ?? null;
      }
    }
    const hold = this.hold;
    if (hold) {
      await this.releaseHold(hold);
      return;
    }
    const term = this.term;
    if (term !== undefined && this.session.isActive) {
      // An earlier resign failed: finish it.
      await this.deleteOwnKey(term);
      if (this.term === term) this.term = undefined;
    }
  }

  private start(value: string | Buffer): SharedWait<Hold> {
    const wait = new SharedWait<Hold>(
      (signal) => this.run(value, signal),
      (late) => this.releaseHold(late).catch(noop), // won as it was withdrawn: resign() handles a failure
    );
    this.pending = wait;
    const clear = () => {
      if (this.pending === wait) this.pending = undefined;
    };
    wait.promise.then(clear, clear);
    return wait;
  }

  private async run(value: string | Buffer, signal: AbortSignal): Promise<Hold> {
    // The queue builds the hold in the instant the wait succeeds and checks the own key then
    // (Go never re-checks: etcd#11051); from then on the hold watches it.
    const hold: Hold = await enqueue(
      {
        session: this.session,
        prefix: this.prefix,
        key: this.key,
        value,
        isReady: (ahead) => ahead.length === 0,
        probe: { prefix: this.prefix, limit: 1 },
        origin: { primitive: 'election', name: this.name },
        signal,
      },
      (ticket) => {
        this.value = ticket.kv.value;
        let built: Hold | undefined = undefined;
        built = new Hold(this.session, ticket, () => {
          if (built) this.ended(built);
        });
        return built;
      },
    );
    this.hold = hold;
    this.term = hold.fencingToken;
    try {
      // The key existed already (another Election object or process on this lease made it):
      // take it over with our value, as Go does, before reporting leadership.
      await this.proclaimIfChanged(value);
    } catch (err) {
      // Never leave a candidate behind (etcd#21128). Not resign(): it would wait for this campaign.
      if (this.hold === hold) this.hold = undefined;
      await hold.release().then(
        () => {
          if (this.term === hold.fencingToken) this.term = undefined;
        },
        (cleanup: unknown) => {
          addSuppressed(err, cleanup); // the term stays: resign() deletes the key
        },
      );
      throw err;
    }
    if (hold.signal.aborted) throw hold.signal.reason as Error; // lost while proclaiming
    this.setLeading(true);
    return hold;
  }

  /** Gives up the leadership of `hold`; on failure the term stays, so that resign() can retry. */
  private async releaseHold(hold: Hold): Promise<void> {
    // Stop the leader's work before etcd hands leadership to the next candidate.
    if (this.hold === hold) this.setLeading(false);
    const term = hold.fencingToken;
    await hold.release(); // guarded by the create revision; throws only while the session lives
    if (this.term === term) this.term = undefined;
  }

  private async proclaimIfChanged(value: string | Buffer): Promise<void> {
    if (this.value?.equals(Buffer.from(value))) return;
    await this.proclaim(value);
  }

  /** Called once when a hold ends: released (also a failed release) or lost. */
  private ended(hold: Hold): void {
    if (this.hold !== hold) return;
    this.hold = undefined;
    // Lost: the key of this term is gone (or goes with the lease). A release keeps the term
    // until resign() confirms the delete, so that a failed resign can be retried.
    if (hold.signal.aborted && this.term === hold.fencingToken) this.term = undefined;
    this.setLeading(false);
  }

  /** Deletes the own key: guarded by its create revision, or by our lease when it is unknown. */
  private async deleteOwnKey(term: bigint | null): Promise<void> {
    const client = this.session.client;
    if (term !== null) {
      await deleteIfCreated(client, this.key, term);
      return;
    }
    const key = Buffer.from(this.key);
    try {
      await retryIdempotent(() =>
        client.kv.txn({
          compare: [{ key, target: 'Lease', result: 'Equal', lease: this.session.leaseId }],
          success: [{ request_delete_range: { key } }],
          failure: [],
        }),
      );
    } catch (err) {
      throw translateError(err, client, this.key);
    }
  }

  private setLeading(leading: boolean): void {
    if (this.leading === leading || this.sessionEnded) return;
    this.leading = leading;
    this.leading$.next(leading);
  }
}

function noop(): void {
  /* nothing */
}
