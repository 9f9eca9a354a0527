import type { Context } from '../main.js';
import type { WorkerEvent } from '../protocol.js';
import { bold, dim, Timeline } from '../timeline.js';
import { within } from '../wait.js';
import { startWorkers } from '../workers.js';

export interface MutexResult {
  ok: boolean;
  summary: string;
}

type TurnEvent = Extract<WorkerEvent, { event: 'acquired' | 'releasing' }>;

/**
 * Several worker processes take turns on one Mutex. The timeline shows who holds it, with each
 * hold's fencing token; the check afterwards proves from the workers' own clocks that no two
 * ever held it at once and that the tokens only grew.
 */
export async function mutexPhase(ctx: Context): Promise<MutexResult> {
  const count = ctx.quick ? 3 : 4;
  const turns = ctx.quick ? 2 : 3;
  const holdMs = ctx.quick ? 100 : 150;
  const name = `${ctx.prefix}mutex`;
  console.log(bold(`1. Mutex — ${count} worker processes take ${turns} turns each on "${name}"`));
  const workers = await within(
    startWorkers(count, 'mutex', (id) => ({ id, name, ttl: 5, turns, holdMs }), ctx.endpoints),
    20_000,
    'the mutex workers to connect',
    ctx.signal,
  );
  console.log(dim(`   ${workers.map((w) => `${w.id} pid ${w.pid ?? '?'}`).join(', ')}: ready; go!`));
  const start = Date.now();
  const timeline = new Timeline<TurnEvent>(start, (e, at) =>
    e.event === 'acquired'
      ? `   ${at}  ${e.worker}  holds the lock    fencing token ${e.token}`
      : dim(`   ${at}  ${e.worker}  releases`),
  );
  const turnsSeen: TurnEvent[] = [];
  for (const w of workers) {
    w.onEvent((e) => {
      if (e.event === 'acquired' || e.event === 'releasing') {
        turnsSeen.push(e);
        timeline.push(e);
      }
    });
    w.go();
  }
  try {
    const codes = await within(
      Promise.all(workers.map((w) => w.exited)),
      20_000,
      'the mutex workers to finish',
      ctx.signal,
    );
    if (codes.some((c) => c !== 0))
      throw new Error(`a mutex worker failed (exit statuses ${codes.join(', ')})`);
  } finally {
    timeline.close();
  }

  // Check: in time order, every acquisition follows the previous holder's release, with a larger token.
  const ordered = [...turnsSeen].sort((a, b) => a.t - b.t);
  let holder: TurnEvent | undefined;
  let lastToken = 0n;
  let overlaps = 0;
  let tokensGrow = true;
  for (const e of ordered) {
    if (e.event === 'acquired') {
      if (holder) overlaps++;
      if (BigInt(e.token) <= lastToken) tokensGrow = false;
      lastToken = BigInt(e.token);
      holder = e;
    } else if (holder?.worker === e.worker) {
      holder = undefined;
    }
  }
  const acquisitions = ordered.filter((e) => e.event === 'acquired');
  const expected = count * turns;
  const ok = acquisitions.length === expected && overlaps === 0 && tokensGrow;
  const first = acquisitions[0]?.token ?? '?';
  const last = acquisitions.at(-1)?.token ?? '?';
  const summary =
    `${acquisitions.length}/${expected} turns by ${count} processes, ` +
    `${overlaps === 0 ? 'never two holders at once' : `${overlaps} OVERLAPPING holds`}, ` +
    `fencing tokens ${tokensGrow ? 'strictly increasing' : 'NOT increasing'} (${first} → ${last})`;
  console.log(`   ${summary}\n`);
  return { ok, summary };
}
