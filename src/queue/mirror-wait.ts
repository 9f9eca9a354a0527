import type { PrefixMirror } from './mirror.js';
import { HoldLostError } from '../errors.js';
import type { KeyValue } from '../etcd/watch.js';
import type { Session } from '../session/session.js';

/** What a wait on a mirror watches, besides its own trigger, to end early. */
export interface MirrorWait {
  mirror: PrefixMirror;
  session: Session;
  /** The caller's own key: its deletion ends the wait with the reason (lease gone or deleted). */
  own: KeyValue | undefined;
  signal: AbortSignal | undefined;
  /** For the error message if `own` vanishes: "while waiting", "while entering", … */
  when: string;
}

/**
 * The skeleton of every wait on a prefix's mirror: resolves when the trigger that `start` sets
 * up calls `finish()`, and ends early, rejecting, on the caller's abort, the session's end, the
 * mirror's failure, or the deletion of the own key. `start` returns the trigger's teardown;
 * every listener is removed when the wait ends, whichever way. No timers, no polling.
 */
export function waitOnMirror(
  wait: MirrorWait,
  start: (finish: (err?: Error) => void) => (() => void) | undefined,
): Promise<void> {
  const { mirror, session, own, signal, when } = wait;
  return new Promise<void>((resolve, reject) => {
    const cleanup: (() => void)[] = [];
    let settled = false;
    let ending = false; // the own key vanished: only its reason may end the wait now
    const finish = (err?: Error) => {
      if (settled) return;
      // Success only while it is true: after a pause of the process this event may be handled
      // before the session's deadline timer. An ended session's abort settles the wait instead.
      if (err === undefined && session.expireIfDue()) return;
      settled = true;
      for (const fn of cleanup) fn();
      if (err === undefined) resolve();
      else reject(err);
    };
    const ownGone = () => {
      ending = true;
      void keyGone(session, own!.key, when).then(finish);
    };
    for (const s of [signal, session.signal]) {
      if (!s) continue;
      const onAbort = () => {
        finish(s.reason as Error);
      };
      s.addEventListener('abort', onAbort, { once: true });
      cleanup.push(() => {
        s.removeEventListener('abort', onAbort);
      });
    }
    if (own) {
      cleanup.push(
        mirror.onDeleted(own.key, (createRevision) => {
          if (createRevision === own.createRevision) ownGone();
        }),
      );
    }
    cleanup.push(mirror.onFailure(finish));
    if (signal?.aborted) finish(signal.reason as Error);
    else if (!session.isActive) finish(session.signal.reason as Error);
    else if (own && mirror.get(own.key)?.createRevision !== own.createRevision) ownGone();
    else {
      const stop = start((err) => {
        if (!ending) finish(err);
      });
      if (stop) {
        if (settled) stop();
        else cleanup.push(stop);
      }
    }
  });
}

/** Why an own key vanished: the session's end if its lease is gone, else someone deleted it. */
export async function keyGone(session: Session, key: string, when: string): Promise<Error> {
  if (await session.confirmLease()) {
    return new HoldLostError(key, `its key was deleted ${when} by another client`);
  }
  return session.signal.reason as Error;
}
