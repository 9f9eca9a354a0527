import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Etcd3 } from 'etcd3';
import { now } from '../clock.js';
import { contend } from '../contender.js';
import { etcd3LockContender } from '../contenders/etcd3-lock.js';
import { mutexContender } from '../contenders/mutex.js';
import { createClient, Election, Session } from '../lib.js';
import { RingNode } from '../ring-node.js';
import type { FromWorker, Role, WorkerReport } from './protocol.js';

/** A role being played by a worker: prepared, then run, then cleaned up. */
export interface RoleRunner {
  /** Starts; replies with `done`, `halted` or `elected` through `send` when it has something to say. */
  go(stopAt: number): void;
  /** Ring only: the ring is over, report. */
  halt(): WorkerReport;
  cleanup(): Promise<void>;
}

type Send = (msg: FromWorker) => void;

/** Measures this process's CPU and event loop from `go` to the report. */
function meter() {
  const cpu = process.cpuUsage();
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  return () => {
    const used = process.cpuUsage(cpu);
    loop.disable();
    return { cpuMs: (used.user + used.system) / 1000, loopDelayP99Ms: loop.percentile(99) / 1e6 };
  };
}

const notRing = (): WorkerReport => {
  throw new Error('halt is for ring roles only');
};

export async function prepareRole(role: Role, send: Send): Promise<RoleRunner> {
  switch (role.kind) {
    case 'lock': {
      const client =
        role.impl === 'etcd3'
          ? new Etcd3({ hosts: role.endpoints })
          : createClient({ endpoints: role.endpoints });
      const contender =
        role.impl === 'etcd3'
          ? etcd3LockContender(client, role.name, role.who)
          : await mutexContender(client, role.name, role.who, role.ttl);
      return {
        go(stopAt) {
          const stop = new AbortController();
          const timer = setTimeout(() => {
            stop.abort();
          }, stopAt - now());
          const done = meter();
          void contend(contender, { stop: stop.signal, cs: role.cs, dataKey: role.dataKey }).then((r) => {
            clearTimeout(timer);
            send({ type: 'done', report: { ...r, ...done(), ringHandoffs: [], ringCycles: [] } });
          });
        },
        halt: notRing,
        async cleanup() {
          await contender.close();
          client.close();
        },
      };
    }
    case 'ring': {
      const client = createClient({ endpoints: role.endpoints });
      const node = new RingNode(client, role.prefix, role.index, role.n, () => {
        send({ type: 'halted' });
      });
      await node.open();
      let done: (() => { cpuMs: number; loopDelayP99Ms: number }) | undefined;
      return {
        go(stopAt) {
          done = meter();
          if (role.index === 0) node.start(stopAt);
          else node.runUntil(stopAt);
        },
        halt() {
          const metered = done?.() ?? { cpuMs: 0, loopDelayP99Ms: 0 };
          return {
            waits: [],
            ringHandoffs: node.handoffs,
            ringCycles: node.cycles,
            errors: node.errors,
            ...(node.firstError ? { firstError: node.firstError } : {}),
            ...metered,
          };
        },
        async cleanup() {
          await node.close();
          client.close();
        },
      };
    }
    case 'campaign': {
      const client = createClient({ endpoints: role.endpoints });
      const session = await Session.create(client, { ttl: role.ttl });
      const election = new Election(session, role.name);
      const stop = new AbortController();
      return {
        go() {
          election.campaign(role.who, { signal: stop.signal }).then(
            () => {
              send({ type: 'elected', at: now() });
            },
            (err: unknown) => {
              if (!stop.signal.aborted) send({ type: 'failed', message: String(err) });
            },
          );
        },
        halt: notRing,
        async cleanup() {
          stop.abort();
          await election.resign().catch(() => undefined);
          await session.close();
          client.close();
        },
      };
    }
  }
}
