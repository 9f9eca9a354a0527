import { Election, type LeaderInfo } from '../../src/index.js';
import type { Context } from '../main.js';
import { bold, dim } from '../timeline.js';
import { elapsed } from '../timeline.js';
import { pause, within } from '../wait.js';
import { startWorkers, type Worker } from '../workers.js';

export interface ElectionResult {
  ok: boolean;
  summary: string;
}

/** Session TTL of the candidates: how long a killed leader's lease outlives it. */
const TTL_S = 2;

/**
 * Worker processes campaign in one election. The leader is killed with SIGKILL — no resign, no
 * cleanup — and another takes over once its lease expires: the failover time, measured from the
 * kill to the new leader as an observer sees it. Then a leader resigns gracefully (SIGTERM), and
 * the next one leads at once: the handoff time.
 */
export async function electionPhase(ctx: Context): Promise<ElectionResult> {
  const name = `${ctx.prefix}election`;
  console.log(bold(`2. Election — 3 worker processes campaign in "${name}" (session TTL ${TTL_S} s)`));
  const leaders: { t: number; leader: LeaderInfo | null }[] = [];
  const changed = new Set<() => void>();
  let start = Date.now();
  const observer = Election.observe(ctx.client, name).subscribe({
    next: (leader) => {
      leaders.push({ t: Date.now(), leader });
      for (const fn of changed) fn();
    },
  });
  /** The next leader the observer sees that satisfies `accept`. */
  const nextLeader = (accept: (l: LeaderInfo | null) => boolean, what: string, ms = 15_000) => {
    const seen = leaders.length;
    return within(
      new Promise<{ t: number; leader: LeaderInfo | null }>((resolve) => {
        const check = () => {
          const hit = leaders.slice(seen).find((l) => accept(l.leader));
          if (hit) {
            changed.delete(check);
            resolve(hit);
          }
        };
        changed.add(check);
      }),
      ms,
      what,
      ctx.signal,
    );
  };
  const say = (t: number, text: string) => {
    console.log(`   ${elapsed(t - start)}  ${text}`);
  };

  try {
    const workers = await within(
      startWorkers(3, 'elect', (id) => ({ id, name, ttl: TTL_S }), ctx.endpoints),
      20_000,
      'the candidates to connect',
      ctx.signal,
    );
    const byId = new Map(workers.map((w) => [w.id, w]));
    console.log(dim(`   ${workers.map((w) => `${w.id} pid ${w.pid ?? '?'}`).join(', ')}: campaigning`));
    const firstSeen = nextLeader((l) => l !== null, 'a first leader');
    start = Date.now();
    for (const w of workers) w.go();
    const first = await firstSeen;
    const firstLeader = first.leader!;
    say(first.t, `${firstLeader.value} leads (term ${firstLeader.createRevision})`);
    await pause(ctx.quick ? 500 : 1000, ctx.signal);

    // Crash the leader: its key stays until its lease expires, then the next candidate leads.
    const victim = byId.get(firstLeader.value) as Worker;
    const failoverSeen = nextLeader(
      (l) => l !== null && l.key !== firstLeader.key,
      'a leader after the crash',
    );
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    say(
      killedAt,
      `SIGKILL ${victim.id} (pid ${victim.pid ?? '?'}), the leader: no resign, its lease lives on for up to ${TTL_S} s`,
    );
    const second = await failoverSeen;
    const secondLeader = second.leader!;
    const failoverMs = second.t - killedAt;
    say(
      second.t,
      `${secondLeader.value} leads (term ${secondLeader.createRevision}) — failover ${(failoverMs / 1000).toFixed(2)} s`,
    );
    await pause(ctx.quick ? 300 : 800, ctx.signal);

    // A graceful leader resigns: the next candidate leads at once.
    const resigner = byId.get(secondLeader.value) as Worker;
    const handoffSeen = nextLeader(
      (l) => l !== null && l.key !== secondLeader.key,
      'a leader after the resignation',
    );
    const stoppedAt = Date.now();
    resigner.kill('SIGTERM');
    say(stoppedAt, `SIGTERM ${resigner.id}: it resigns`);
    const third = await handoffSeen;
    const thirdLeader = third.leader!;
    const handoffMs = third.t - stoppedAt;
    say(
      third.t,
      `${thirdLeader.value} leads (term ${thirdLeader.createRevision}) — handoff ${handoffMs} ms after the signal`,
    );

    const noneSeen = nextLeader((l) => l === null, 'the election to empty');
    byId.get(thirdLeader.value)?.kill('SIGTERM');
    const none = await noneSeen;
    say(none.t, `${thirdLeader.value} resigns too: no leader`);
    await within(Promise.all(workers.map((w) => w.exited)), 10_000, 'the candidates to exit', ctx.signal);

    const terms = [firstLeader, secondLeader, thirdLeader].map((l) => l.createRevision);
    const termsGrow = terms[0]! < terms[1]! && terms[1]! < terms[2]!;
    const ok = termsGrow && failoverMs < (TTL_S + 3) * 1000 && handoffMs < 2000;
    const summary =
      `leader killed with SIGKILL, ${secondLeader.value} took over after ${(failoverMs / 1000).toFixed(2)} s ` +
      `(lease TTL ${TTL_S} s); graceful resign handed over in ${handoffMs} ms; terms ${terms.join(' → ')}`;
    console.log(`   ${summary}\n`);
    return { ok, summary };
  } finally {
    observer.unsubscribe();
  }
}
