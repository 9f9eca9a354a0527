import { type MirrorWait, waitOnMirror } from '../queue/mirror-wait.js';
import type { WatchBatch } from '../etcd/watch.js';

/** A check over the mirror's state; 'stop' once it has called `finish` (or arranged to). */
export type MirrorCheck = (finish: (err?: Error) => void, batch?: WatchBatch) => 'stop' | 'wait';

/**
 * Runs `check` now and after every batch the mirror applies, until it says 'stop'. Ends early,
 * rejecting, on abort, the session's end, the mirror's failure or the deletion of `own`. Every
 * listener is removed when the wait ends, whichever way.
 */
export function watchMirror(watch: MirrorWait, check: MirrorCheck): Promise<void> {
  return waitOnMirror(watch, (finish) => {
    let checking = true;
    const run = (batch?: WatchBatch) => {
      if (checking && check(finish, batch) === 'stop') checking = false;
    };
    const off = watch.mirror.onChange(run);
    run();
    return off;
  });
}
