import { Subscription } from 'rxjs';
import type { Etcd3 } from 'etcd3';
import { Election } from '../election/election.js';
import type { LeaderInfo } from '../election/leader.js';
import { leaseHex, NoLeaderError } from '../errors.js';
import { connect, type GlobalOptions } from './connection.js';
import { clock, createOutput, describeError, type Output } from './output.js';
import { onStopSignal } from './signals.js';

/**
 * `etcd-concurrency observe <name>`: prints the leader of election `name` (or that it has none),
 * then every change of leader and every proclaimed value, until Ctrl-C.
 */
export async function observeCommand(name: string, globals: GlobalOptions): Promise<number> {
  const out = createOutput(globals.json === true);
  const client = await connect(globals, out);
  try {
    // A watch waits for etcd forever; one read first turns "unreachable" into a clear error.
    await Election.leader(client, name).catch((err: unknown) => {
      if (!(err instanceof NoLeaderError)) throw err;
    });
    await printLeaders(client, name, out, () => false);
    return 0;
  } finally {
    client.close();
  }
}

/**
 * Prints leader changes of election `name` until a stop signal (resolves) or the observation fails
 * (rejects). `isSelf` marks the caller's own key, so `elect` can tell its own leadership apart.
 */
export function printLeaders(
  client: Etcd3,
  name: string,
  out: Output,
  isSelf: (leader: LeaderInfo) => boolean,
  until?: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // Closed by finish(); an inner subscription added after that is torn down at once.
    const subscription = new Subscription();
    const finish = (err?: unknown) => {
      offSignals();
      until?.removeEventListener('abort', onUntil);
      subscription.unsubscribe();
      if (err === undefined) resolve();
      else reject(err instanceof Error ? err : new Error(describeError(err)));
    };
    const offSignals = onStopSignal(() => {
      finish();
    });
    const onUntil = () => {
      finish();
    };
    until?.addEventListener('abort', onUntil, { once: true });
    subscription.add(
      Election.observe(client, name).subscribe({
        next: (leader) => {
          printLeader(out, name, leader, leader !== null && isSelf(leader));
        },
        error: (err: unknown) => {
          finish(err ?? new Error('the observation ended'));
        },
      }),
    );
  });
}

export function printLeader(out: Output, name: string, leader: LeaderInfo | null, self: boolean): void {
  if (leader === null) {
    out.event('leader', `${clock()}  no leader in "${name}"`, { name, leader: null });
    return;
  }
  const mark = self ? '  (this process)' : '';
  out.event(
    'leader',
    `${clock()}  leader ${JSON.stringify(leader.value)}  term ${leader.createRevision}  ` +
      `lease ${leaseHex(leader.leaseId)}${mark}`,
    { name, leader, self },
  );
}
