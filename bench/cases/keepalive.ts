import { Etcd3, type Lease } from 'etcd3';
import { now } from '../clock.js';
import { GoProcess } from '../go/process.js';
import { createClient, Session } from '../lib.js';
import type { Outcome } from '../result.js';
import type { Impl } from '../spec.js';
import { inBatches, openWindow } from '../window.js';
import { type BenchCase, type CaseContext, REPLY_TIMEOUT_MS } from './context.js';
import { goBinary } from './go.js';

/** Sessions and their TTL: a full run holds 1,000; `--quick` a tenth, with a shorter TTL. */
export function keepaliveSize(quick: boolean): { sessions: number; ttlS: number } {
  return quick ? { sessions: 100, ttlS: 3 } : { sessions: 1000, ttlS: 6 };
}

/**
 * `sessions` idle sessions on one client, nobody locking: what etcd sees is only their
 * keep-alives (LeaseKeepAlive stream messages, counted by etcd itself) and the CPU they cost.
 * Go's sessions renew every TTL/3; the window spans at least one TTL, three such periods.
 */
export function keepaliveCase(impl: Exclude<Impl, 'raw-ring'>, quick: boolean): BenchCase {
  const { sessions, ttlS } = keepaliveSize(quick);
  return {
    bench: 'keepalive',
    impl,
    n: sessions,
    mode: 'in-process',
    clients: 'shared',
    cs: 'none',
    async run(ctx: CaseContext): Promise<Outcome> {
      const windowMs = Math.max(ctx.durationMs, ttlS * 1000);
      const keepalive = { sessions, ttlS };
      if (impl === 'go') {
        const proc = new GoProcess(await goBinary(ctx), {
          endpoints: ctx.endpoints,
          name: `${ctx.prefix}unused`,
          n: 0,
          who: 'g',
          ttl: ttlS,
          mode: 'keepalive',
          sessions,
        });
        try {
          await proc.ready(REPLY_TIMEOUT_MS + sessions * 20);
          const window = await openWindow(ctx.endpoints);
          const report = await proc.go(now() + windowMs, windowMs + REPLY_TIMEOUT_MS);
          return {
            window: await window.close(),
            keepalive,
            workerCpuMs: report.cpuMs,
            errors: report.errors,
          };
        } finally {
          await proc.quit();
        }
      }
      if (impl === 'etcd3') {
        const client = new Etcd3({ hosts: ctx.endpoints });
        const leases: Lease[] = [];
        try {
          await inBatches(sessions, 50, async () => {
            const lease = client.lease(ttlS);
            leases.push(lease);
            await lease.grant();
          });
          const window = await openWindow(ctx.endpoints);
          await new Promise((r) => setTimeout(r, windowMs));
          return { window: await window.close(), keepalive, errors: 0 };
        } finally {
          await Promise.allSettled(leases.map((l) => l.revoke()));
          client.close();
        }
      }
      const client = createClient({ endpoints: ctx.endpoints });
      const open: Session[] = [];
      try {
        await inBatches(sessions, 50, async () => {
          open.push(await Session.create(client, { ttl: ttlS }));
        });
        const window = await openWindow(ctx.endpoints);
        await new Promise((r) => setTimeout(r, windowMs));
        return { window: await window.close(), keepalive, errors: 0 };
      } finally {
        await Promise.allSettled(open.map((s) => s.close()));
        client.close();
      }
    },
  };
}
