import { existsSync } from 'node:fs';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterEach, describe, expect, it } from 'vitest';
import { sharedEtcdEndpoints, startEtcd, type EtcdCluster } from './support/etcd.js';
import { uniquePrefix } from './support/prefix.js';

const clients: Etcd3[] = [];
const clusters: EtcdCluster[] = [];

function client(hosts: string[]): Etcd3 {
  const c = new Etcd3({ hosts });
  clients.push(c);
  return c;
}

async function cluster(members: 1 | 3): Promise<EtcdCluster> {
  const c = await startEtcd({ members });
  clusters.push(c);
  return c;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

async function health(url: string): Promise<unknown> {
  const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
  return res.json();
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(clusters.splice(0).map((c) => c.stop()));
});

describe('shared etcd', () => {
  it('answers /health and serves reads and writes', async () => {
    const endpoints = sharedEtcdEndpoints();
    expect(endpoints.length).toBeGreaterThan(0);
    for (const url of endpoints) {
      expect(url).toMatch(/^https?:\/\//);
      expect(await health(url)).toMatchObject({ health: 'true' });
    }
    const key = `${uniquePrefix('harness')}k`;
    const etcd = client(endpoints);
    await etcd.put(key).value('v');
    expect(await etcd.get(key).string()).toBe('v');
    await etcd.delete().key(key);
  });

  it('uniquePrefix gives distinct, well-formed prefixes', () => {
    const a = uniquePrefix('x');
    expect(a).toMatch(/^t\/x\/[0-9a-f]{8}\/$/);
    expect(uniquePrefix('x')).not.toBe(a);
  });
});

describe('private single node', () => {
  it('keeps its data across kill + start, and loses it on wipe', async () => {
    const etcd = await cluster(1);
    const [member] = etcd.members;
    if (!member) throw new Error('no member');
    expect(etcd.endpoints).toEqual([member.clientUrl]);
    expect(member.clientUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(member.running).toBe(true);
    const firstPid = member.pid;
    expect(firstPid).toBeTypeOf('number');
    expect(await etcd.leader()).toBe(member);

    await client(etcd.endpoints).put('k').value('v1');

    await member.kill();
    expect(member.running).toBe(false);
    expect(member.pid).toBeUndefined();
    expect(isRunning(firstPid as number)).toBe(false);
    await expect(health(member.clientUrl)).rejects.toThrow();

    await member.start();
    expect(member.running).toBe(true);
    expect(member.pid).not.toBe(firstPid);
    expect(await client(etcd.endpoints).get('k').string()).toBe('v1');

    await member.wipe();
    expect(member.running).toBe(false);
    expect(existsSync(member.dataDir)).toBe(false);
    await member.start();
    expect(await client(etcd.endpoints).get('k').string()).toBeNull();
  });

  it('pause() freezes the member and resume() thaws it', async () => {
    const etcd = await cluster(1);
    const [member] = etcd.members;
    if (!member) throw new Error('no member');
    member.pause();
    await expect(fetch(`${member.clientUrl}/health`, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
    member.resume();
    expect(await health(member.clientUrl)).toMatchObject({ health: 'true' });
  });

  it('kill(SIGTERM) of a paused member still terminates it', async () => {
    const etcd = await cluster(1);
    const [member] = etcd.members;
    if (!member) throw new Error('no member');
    member.pause();
    await member.kill('SIGTERM');
    expect(member.running).toBe(false);
  });
});

describe('private 3-node cluster', () => {
  it('elects a leader, survives losing a follower and then the leader, and stop() cleans up', async () => {
    const etcd = await cluster(3);
    expect(etcd.endpoints).toHaveLength(3);
    expect(new Set(etcd.endpoints).size).toBe(3);
    const pids = etcd.members.map((m) => m.pid);
    const tmpDir = path.dirname(etcd.members[0]?.dataDir ?? '');
    expect(existsSync(tmpDir)).toBe(true);

    const leader = await etcd.leader();
    const running = () => etcd.members.filter((m) => m.running).map((m) => m.clientUrl);

    // lose a follower: the remaining two still form a quorum
    const follower = etcd.members.find((m) => m !== leader);
    if (!follower) throw new Error('no follower');
    await follower.kill();
    expect(await etcd.leader()).toBe(leader);
    await client(running()).put('a').value('1');

    // bring it back, then lose the leader: a new one is elected among the other two
    await follower.start();
    await leader.kill();
    const newLeader = await etcd.leader();
    expect(newLeader).not.toBe(leader);
    expect(newLeader.running).toBe(true);
    const etcd3 = client(running());
    await etcd3.put('b').value('2');
    expect(await etcd3.get('a').string()).toBe('1');

    // the old leader rejoins as a follower and catches up
    await leader.start();
    expect(await client([leader.clientUrl]).get('b').string()).toBe('2');

    const allPids = [...pids, ...etcd.members.map((m) => m.pid)].filter((p): p is number => p !== undefined);
    await etcd.stop();
    for (const pid of allPids) expect(isRunning(pid), `pid ${pid}`).toBe(false);
    expect(etcd.members.every((m) => !m.running)).toBe(true);
    expect(existsSync(tmpDir)).toBe(false);
    await etcd.stop(); // idempotent
    await expect(leader.start()).rejects.toThrow(/stopped/);
  });
});
