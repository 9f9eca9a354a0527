import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { Election } from '../../src/index.js';
import { eventually, useEtcd } from '../support/clients.js';
import { sharedEtcdEndpoints } from '../support/etcd.js';
import { uniquePrefix } from '../support/prefix.js';
import { record, valuesOf } from './record.js';

const etcd = useEtcd();
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
  }
});

const leaseHex = (id: string) => BigInt(id).toString(16);

/** Runs `etcdctl elect …` (etcd 3.4's etcdctl, API v3) and collects what it prints. */
function etcdctl(args: string[]) {
  const child = spawn('etcdctl', ['--endpoints', sharedEtcdEndpoints().join(','), 'elect', ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return {
    child,
    /** Printed lines: etcdctl prints a leader as its key, then its value. */
    lines: () => out.split('\n').filter((l) => l.length > 0),
    until: (predicate: (lines: string[]) => boolean, what: string) =>
      eventually(
        () => {
          if (child.exitCode !== null) throw new Error(`etcdctl exited (${child.exitCode}): ${out}${err}`);
          return predicate(out.split('\n').filter((l) => l.length > 0));
        },
        10_000,
        `etcdctl to print ${what}; stdout: ${out} stderr: ${err}`,
      ),
    /** SIGINT: etcdctl cancels its campaign, or resigns if it leads, and exits. */
    interrupt: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      if (child.pid !== undefined) process.kill(child.pid, 'SIGINT');
      await exited;
      return child.exitCode;
    },
  };
}

describe('Election interop with etcdctl elect', () => {
  it('etcdctl’s listener sees our leader and each value it proclaims', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('interop')}listen`;
    const session = await etcd.session(client);
    const election = new Election(session, name);
    const listener = etcdctl(['-l', name]);
    await election.campaign('ours-1');
    const key = `${name}/${leaseHex(session.leaseId)}`;
    await listener.until((l) => l.includes('ours-1'), 'ours-1');
    expect(listener.lines().slice(0, 2)).toEqual([key, 'ours-1']);
    await election.proclaim('ours-2');
    await listener.until((l) => l.includes('ours-2'), 'ours-2');
    expect(listener.lines()).toEqual([key, 'ours-1', key, 'ours-2']);
    await election.resign();
    expect(await listener.interrupt()).toBe(0);
  });

  it('our observe() and leader() see etcdctl’s leader', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('interop')}observe`;
    const observed = record(Election.observe(client, name));
    await observed.until((v) => v.length === 1, 'the initial state');
    const ctl = etcdctl([name, 'ctl-proposal']);
    await ctl.until((l) => l.includes('ctl-proposal'), 'its leadership');
    const [ctlKey] = ctl.lines();
    expect(ctlKey!.startsWith(`${name}/`)).toBe(true);
    await observed.until((v) => v.at(-1)?.value === 'ctl-proposal', 'etcdctl as leader');
    const leader = await Election.leader(client, name);
    expect(leader.key).toBe(ctlKey);
    expect(leader.value).toBe('ctl-proposal');
    expect(leaseHex(leader.leaseId)).toBe(ctlKey!.slice(name.length + 1));
    expect(observed.values.at(-1)).toEqual(leader);
    await ctl.interrupt(); // resigns
    await observed.until((v) => v.at(-1) === null, 'no leader after etcdctl resigned');
    expect(valuesOf(observed.values)).toEqual([null, 'ctl-proposal', null]);
    observed.stop();
  });

  it('our candidate waits while etcdctl leads and wins when etcdctl resigns on SIGINT', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('interop')}handoff`;
    const ctl = etcdctl([name, 'ctl']);
    await ctl.until((l) => l.includes('ctl'), 'its leadership');
    const election = new Election(await etcd.session(client), name);
    let won = false;
    const campaign = election.campaign('ours').then((hold) => {
      won = true;
      return hold;
    });
    await eventually(async () => (await client.getAll().prefix(`${name}/`).keys()).length === 2);
    await new Promise((r) => setTimeout(r, 300));
    expect(won).toBe(false);
    expect((await election.leader()).value).toBe('ctl');
    const interruptedAt = Date.now();
    expect(await ctl.interrupt()).toBe(0);
    const hold = await campaign;
    // A resignation, not the expiry of etcdctl's 60 s lease.
    expect(Date.now() - interruptedAt).toBeLessThan(2000);
    expect(hold.key).toBe(election.key);
    expect(election.isLeader).toBe(true);
    expect((await election.leader()).value).toBe('ours');
    await election.resign();
  });

  it('etcdctl waits while we lead and wins when we resign', async () => {
    const client = etcd.client();
    const name = `${uniquePrefix('interop')}reverse`;
    const election = new Election(await etcd.session(client), name);
    await election.campaign('ours');
    const ctl = etcdctl([name, 'ctl']);
    await eventually(async () => (await client.getAll().prefix(`${name}/`).keys()).length === 2);
    await new Promise((r) => setTimeout(r, 300));
    expect(ctl.lines()).toEqual([]);
    await election.resign();
    await ctl.until((l) => l.includes('ctl'), 'its leadership');
    expect((await election.leader()).value).toBe('ctl');
    expect(election.isLeader).toBe(false);
    expect(await ctl.interrupt()).toBe(0);
    expect(await client.getAll().prefix(`${name}/`).keys()).toEqual([]);
  });
});
