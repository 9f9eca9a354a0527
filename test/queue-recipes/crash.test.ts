import { describe, expect, it } from 'vitest';
import { Queue } from '../../src/index.js';
import { eventually, keysUnder, useEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { runTs, useSpawn, type Spawned } from '../support/spawn.js';

const etcd = useEtcd();
useSpawn();

const TTL_S = 2;
const WORK_MS = 200;
// Few enough that the survivors are idle when the dead workers' jobs come back (a Queue item
// re-enters at the back), so the redelivery time measured is the queue's, not the backlog's.
const JOBS = 10;

/** The jobs a worker printed `verb` for, in order, with the timestamp of `took` lines. */
function lines(out: string, verb: 'took' | 'done'): { job: string; at: number }[] {
  const re = verb === 'took' ? /^took (\S+) at (\d+)$/gm : /^done (\S+)$/gm;
  return [...out.matchAll(re)].map((m) => ({ job: m[1]!, at: Number(m[2] ?? 0) }));
}

describe('at-least-once Queue with workers killed by SIGKILL mid-job', { timeout: 60_000 }, () => {
  it('does every job at least once, loses none, duplicates only from killed workers, leaves no key', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('crash')}jobs`;
    const workers: Spawned[] = [0, 1, 2, 3].map(() =>
      runTs('test/queue-recipes/crash-worker.ts', [name, String(TTL_S), String(WORK_MS)]),
    );
    await Promise.all(workers.map((w) => w.waitFor(/^ready/m, 20_000)));
    const q = new Queue(client, name);
    const jobs = Array.from({ length: JOBS }, (_, i) => `job-${String(i).padStart(2, '0')}`);
    for (const job of jobs) await q.enqueue(job);

    // Kill two workers by PID the moment each has taken a job (so it dies holding it).
    const victims = workers.slice(0, 2);
    const survivors = workers.slice(2);
    const killedAt = new Map<Spawned, number>();
    await Promise.all(
      victims.map(async (v) => {
        await v.waitFor(/^took /m, 15_000);
        v.kill('SIGKILL');
        killedAt.set(v, Date.now());
        await v.exited;
      }),
    );

    const all = () => workers.map((w) => w.stdout).join('\n');
    await eventually(
      () => {
        const done = new Set(lines(all(), 'done').map((l) => l.job));
        return jobs.every((j) => done.has(j));
      },
      30_000,
      'every job done',
    );
    for (const s of survivors) s.kill('SIGTERM');
    for (const s of survivors) expect((await s.exit(10_000)).code).toBe(0);

    // Every job was done at least once: none lost.
    const done = lines(all(), 'done').map((l) => l.job);
    expect(new Set(done)).toEqual(new Set(jobs));
    // A job is delivered more than once only because a killed worker had it: survivors, who
    // finish what they take, get each job at most once, and a job no killed worker took went
    // to exactly one survivor.
    const takenByVictims = victims.flatMap((v) => lines(v.stdout, 'took').map((l) => l.job));
    const survivorTakes = survivors.flatMap((s) => lines(s.stdout, 'took'));
    for (const job of jobs) {
      const bySurvivors = survivorTakes.filter((t) => t.job === job).length;
      expect(bySurvivors, `${job} taken by survivors`).toBeLessThanOrEqual(1);
      if (!takenByVictims.includes(job)) expect(bySurvivors, `${job} taken by survivors`).toBe(1);
    }
    // Each victim died holding an unfinished job, which a survivor took within TTL + 1 s.
    let redelivered = 0;
    for (const v of victims) {
      const finished = new Set(lines(v.stdout, 'done').map((l) => l.job));
      const held = lines(v.stdout, 'took').filter((t) => !finished.has(t.job));
      for (const { job } of held) {
        const again = survivorTakes.find((t) => t.job === job);
        expect(again, `${job} held by a killed worker was delivered again`).toBeDefined();
        expect(again!.at - killedAt.get(v)!).toBeLessThanOrEqual(TTL_S * 1000 + 1000);
        redelivered++;
      }
    }
    expect(redelivered).toBeGreaterThanOrEqual(1);
    // Nothing left: not under the name (what Go's consumers range), not among the claims.
    expect(await keysUnder(client, name)).toEqual([]);
    expect(await keysUnder(client, `__etcd-concurrency/claims/${encodeURIComponent(name)}/`)).toEqual([]);
  });
});
