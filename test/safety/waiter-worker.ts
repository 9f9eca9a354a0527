/**
 * A waiter in its own process, for the pause tests: `node --import tsx waiter-worker.ts <kind> <name>`.
 * Prints `waiting` once its key is queued, `renewed` after each acknowledged renewal, and one
 * line `outcome {json}` in the instant its wait settles (whether the session believed itself
 * alive and the hold unaborted at that moment: what a caller would act on).
 */
import {
  createClient,
  DoubleBarrier,
  Election,
  Mutex,
  RWMutex,
  Semaphore,
  Session,
} from '../../src/index.js';

const [kind, name] = process.argv.slice(2);
if (!kind || !name) throw new Error('usage: waiter-worker.ts <kind> <name>');
const ttl = Number(process.env.WAITER_TTL ?? 4);
const safetyMarginMs = Number(process.env.WAITER_MARGIN_MS ?? 1500);

const client = createClient();
const session = await Session.create(client, { ttl, safetyMarginMs });

function start(): Promise<{ signal: AbortSignal } | undefined> {
  switch (kind) {
    case 'mutex':
      return new Mutex(session, name!).lock();
    case 'rwmutex-read':
      return new RWMutex(session, name!).rLock();
    case 'semaphore':
      return new Semaphore(session, name!, { permits: 1 }).acquire();
    case 'election':
      return new Election(session, name!).campaign('paused');
    case 'double-barrier':
      return new DoubleBarrier(session, name!, 2).enter().then(() => undefined);
    default:
      throw new Error(`unknown kind ${kind}`);
  }
}

const wait = start();
session.keepAlive$.subscribe(() => {
  console.log('renewed');
});
// Queued: the key is in (the parent checks etcd), so the renewals from now on are the cue.
console.log('waiting');
const line = await wait.then(
  (hold) => ({ won: true, holdAborted: hold?.signal.aborted ?? null, state: session.currentState }),
  (err: unknown) => ({ won: false, error: (err as Error).name, state: session.currentState }),
);
console.log(`outcome ${JSON.stringify(line)}`);
await session.close().catch(() => undefined);
client.close();
