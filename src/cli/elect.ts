import { Election } from '../election/election.js';
import { leaseHex } from '../errors.js';
import { Session } from '../session/session.js';
import { closeQuietly, connect, type GlobalOptions } from './connection.js';
import { clock, createOutput, describeError } from './output.js';
import { printLeaders } from './observe.js';
import { Interrupted, stopSignal } from './signals.js';

export interface ElectOptions {
  /** Session TTL in seconds: how long a crashed leader keeps the leadership. */
  ttl: number;
}

/**
 * `etcd-concurrency elect <name> <proposal>`: campaigns in election `name` with the value
 * `proposal` (Go's and etcdctl's key layout), prints every change of leader, and resigns on
 * Ctrl-C. Fails if the leadership is lost (the session's lease ended or the key was deleted).
 */
export async function electCommand(
  name: string,
  proposal: string,
  options: ElectOptions,
  globals: GlobalOptions,
): Promise<number> {
  const out = createOutput(globals.json === true);
  const stop = stopSignal();
  const stopObserving = new AbortController();
  const client = await connect(globals, out);
  let session: Session | undefined;
  let observing: Promise<void> | undefined;
  try {
    session = await Session.create(client, { ttl: options.ttl, signal: stop.signal });
    const election = new Election(session, name);
    const candidate = { name, proposal, key: election.key, leaseId: session.leaseId };
    out.event(
      'campaign',
      `${clock()}  campaigning in "${name}" as ${JSON.stringify(proposal)} (lease ${leaseHex(session.leaseId)})`,
      candidate,
    );
    observing = printLeaders(client, name, out, (l) => l.key === election.key, stopObserving.signal).catch(
      (err: unknown) => {
        out.note('error', `${clock()}  cannot observe "${name}" any more: ${describeError(err)}`, {
          message: describeError(err),
        });
      },
    );
    const hold = await election.campaign(proposal, { signal: stop.signal });
    out.event(
      'elected',
      `${clock()}  elected: this process leads "${name}" (term ${hold.fencingToken}). Press Ctrl-C to resign.`,
      { ...candidate, fencingToken: hold.fencingToken },
    );
    const lost = await Promise.race([
      new Promise<false>((resolve) => {
        stop.signal.addEventListener('abort', () => {
          resolve(false);
        });
      }),
      new Promise<true>((resolve) => {
        if (hold.signal.aborted) resolve(true);
        hold.signal.addEventListener('abort', () => {
          resolve(true);
        });
      }),
    ]);
    if (lost) throw new Error(`leadership of "${name}" lost: ${describeError(hold.signal.reason)}`);
    await election.resign();
    out.event('resigned', `${clock()}  resigned from "${name}"`, candidate);
    return 0;
  } catch (err) {
    if (err instanceof Interrupted) {
      // Ctrl-C is how a candidate leaves: a withdrawn campaign is a success.
      out.event('withdrawn', `${clock()}  withdrew from "${name}"`, { name, proposal });
      return 0;
    }
    throw err;
  } finally {
    stopObserving.abort();
    await observing;
    stop.dispose();
    await closeQuietly(session);
    client.close();
  }
}
