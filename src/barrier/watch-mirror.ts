import type { PrefixMirror } from '../core/mirror.js';
import { keyGone } from '../core/queue.js';
import type { KeyValue, WatchBatch } from '../core/watch.js';
import type { Session } from '../session/session.js';

/** What {@link watchMirror} watches, and what ends the wait early. */
export interface MirrorWatch {
  mirror: PrefixMirror;
  session: Session;
  /** The caller's own key: its deletion ends the wait with the reason (lease gone or deleted). */
  own: KeyValue | undefined;
  signal: AbortSignal | undefined;
  /** For the error message if `own` vanishes: "while entering", … */
  when: string;
}

/** A check over the mirror's state; 'stop' once it has called `finish` (or arranged to). */
export type MirrorCheck = (finish: (err?: Error) => void, batch?: WatchBatch) => 'stop' | 'wait';

/**
 * Runs `check` now and after every batch the mirror applies, until it says 'stop'. Ends early,
 * rejecting, on abort, the session's end, the mirror's failure or the deletion of `own`. Every
 * listener is removed when the wait ends, whichever way.
 */
export function watchMirror(watch: MirrorWatch, check: MirrorCheck): Promise<void> {
  const { mirror, session, own, signal, when } = watch;
  return new Promise<void>((resolve, reject) => {
    const cleanup: (() => void)[] = [];
    let checking = true;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      for (const fn of cleanup) fn();
      if (err === undefined) resolve();
      else reject(err);
    };
    const run = (batch?: WatchBatch) => {
      if (!checking || settled) return;
      if (check(finish, batch) === 'stop') checking = false;
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
    const ownGone = () => {
      checking = false;
      void keyGone(session, own!.key, when).then(finish);
    };
    if (own) {
      cleanup.push(
        mirror.onDeleted(own.key, (createRevision) => {
          if (createRevision === own.createRevision) ownGone();
        }),
      );
    }
    cleanup.push(mirror.onFailure(finish));
    cleanup.push(mirror.onChange(run));
    if (signal?.aborted) finish(signal.reason as Error);
    else if (!session.isActive) finish(session.signal.reason as Error);
    else if (own && mirror.get(own.key)?.createRevision !== own.createRevision) ownGone();
    else run();
  });
}
