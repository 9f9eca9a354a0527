import { now } from '../clock.js';
import { electionContender } from '../contenders/election.js';
import type { Outcome } from '../result.js';
import { openWindow } from '../window.js';
import { WorkerProcess } from '../workers/process.js';
import { type BenchCase, type CaseContext, REPLY_TIMEOUT_MS } from './context.js';
import { lockInProcess, SESSION_TTL_S } from './lock.js';
import { countKeys, sweep } from './sweep.js';

/** Graceful handoff: `n` campaigners in this process; the leader resigns at once, the next campaign resolves. */
export function electionHandoff(n: number): BenchCase {
  return lockInProcess({
    spec: {
      bench: 'election-handoff',
      impl: 'etcd-concurrency',
      n,
      mode: 'in-process',
      clients: 'shared',
      cs: 'none',
    },
    capacity: 1,
    client: 'ours',
    make: (client, name, who) => electionContender(client, name, who, SESSION_TTL_S),
  });
}

/**
 * Crash failover: `n` campaigning processes with sessions of `ttl` seconds; each new leader is
 * SIGKILLed (no resign, no revoke) and replaced by a fresh campaigner, and the time from the kill
 * to the next leader's campaign resolving is measured `kills` times. Bound: the lease's TTL.
 */
export function electionFailover(n: number, ttl: number, kills: (ctx: CaseContext) => number): BenchCase {
  return {
    bench: 'election-failover',
    impl: 'etcd-concurrency',
    n,
    mode: 'multi-process',
    clients: 'own',
    cs: 'none',
    async run(ctx: CaseContext): Promise<Outcome> {
      const name = `${ctx.prefix}election`;
      const live = new Set<WorkerProcess>();
      let spawned = 0;
      const campaigner = async () => {
        const w = WorkerProcess.spawn(`failover-${spawned}`);
        const who = `p${spawned++}`;
        live.add(w);
        await w.request(
          { type: 'prepare', role: { kind: 'campaign', endpoints: ctx.endpoints, name, who, ttl } },
          'ready',
          REPLY_TIMEOUT_MS,
        );
        w.send({ type: 'go', stopAt: Infinity });
        return w;
      };
      const nextLeader = (timeoutMs: number) =>
        Promise.any([...live].map((w) => w.expect('elected', timeoutMs).then((m) => ({ w, at: m.at }))));
      let leftover = 0;
      try {
        for (let i = 0; i < n; i++) await campaigner();
        const window = await openWindow(ctx.endpoints);
        const failovers: number[] = [];
        let leader = await nextLeader(REPLY_TIMEOUT_MS);
        for (let k = 0, total = kills(ctx); k < total; k++) {
          for (const w of live) w.forget('elected');
          const killedAt = now();
          leader.w.kill();
          live.delete(leader.w);
          await leader.w.exited;
          const replacement = campaigner();
          leader = await nextLeader(ttl * 1000 + REPLY_TIMEOUT_MS);
          failovers.push(leader.at - killedAt);
          ctx.log(`  failover ${k + 1}: ${(leader.at - killedAt).toFixed(0)} ms (ttl ${ttl} s)`);
          await replacement;
        }
        const stats = await window.close();
        return {
          window: stats,
          failovers,
          errors: 0,
          // Read by summarize(), after the finally block below has swept the prefix.
          get extra() {
            return { ttl_s: ttl, failover_max_ms: Math.max(...failovers), leftover_keys: leftover };
          },
        };
      } finally {
        for (const w of live) w.forget('elected');
        await Promise.allSettled(
          [...live].map(async (w) => {
            await w.request({ type: 'cleanup' }, 'cleaned', REPLY_TIMEOUT_MS);
            await w.close();
          }),
        );
        // The killed leaders' keys go when their leases expire (after the TTL): wait for that.
        const deadline = now() + ttl * 1000 + 3000;
        do {
          leftover = await countKeys(ctx.endpoints, name);
          if (leftover === 0) break;
          await new Promise((r) => setTimeout(r, 250));
        } while (now() < deadline);
        await sweep(ctx.endpoints, ctx.prefix, name);
      }
    },
  };
}
