import { describe, expect, it } from 'vitest';
import { Etcd3, GRPCDeadlineExceededError } from 'etcd3';
import { NoopPolicy, isBrokenCircuitError } from 'cockatiel';
import { watch } from '../src/etcd/watch.js';
import { EtcdUnavailableError, Session } from '../src/index.js';
import { startProxy } from './support/proxy.js';
import { eventually, usePrivateEtcd } from './support/clients.js';
import { uniquePrefix } from './support/prefix.js';

/**
 * What createClient changes about etcd3's defaults, measured against a real etcd that is frozen,
 * killed and restarted. Each test logs what it measured.
 */
describe('createClient against a failing etcd', () => {
  const etcd = usePrivateEtcd({ members: 1 });

  it('gives every unary call a deadline: a frozen etcd fails calls instead of hanging', async () => {
    const client = etcd.client({ callTimeoutMs: 1000 });
    await client.put(`${uniquePrefix('client')}warm`).value('1');
    const member = etcd.cluster().members[0]!;
    member.pause();
    try {
      const started = Date.now();
      const err = await client.get('any').catch((e: unknown) => e);
      const took = Date.now() - started;
      console.log(`frozen etcd: get failed after ${took} ms`);
      expect(err).toBeInstanceOf(GRPCDeadlineExceededError);
      expect(took).toBeLessThan(3000);
      // The library's own calls turn it into a typed error naming the endpoint.
      const typed = await Session.create(client).catch((e: unknown) => e);
      expect(typed).toBeInstanceOf(EtcdUnavailableError);
      expect((typed as Error).message).toContain(etcd.cluster().endpoints[0]!);
    } finally {
      member.resume();
    }
  });

  it('does not block calls with a circuit breaker once etcd is back (etcd3’s default does)', async () => {
    const ours = etcd.client();
    const plain = new Etcd3({ hosts: etcd.cluster().endpoints });
    etcd.defer(() => {
      plain.close();
    });
    const member = etcd.cluster().members[0]!;
    await member.kill('SIGKILL');
    try {
      // Enough failures to open etcd3's default breaker (3 consecutive failures).
      for (let i = 0; i < 2; i++) {
        await expect(ours.get('k')).rejects.toThrow(/UNAVAILABLE/);
        await expect(plain.get('k')).rejects.toThrow();
      }
    } finally {
      await member.start();
    }
    const started = Date.now();
    await ours.get('k');
    console.log(`etcd back: first call succeeded after ${Date.now() - started} ms`);
    const plainErr = await plain.get('k').catch((e: unknown) => e);
    console.log(`etcd back: etcd3 defaults gave ${String(plainErr)}`);
    expect(isBrokenCircuitError(plainErr)).toBe(true);
  });

  it('never re-executes a write whose reply was lost (etcd3’s default retries it)', async () => {
    const proxy = await startProxy(etcd.cluster().endpoints[0]!);
    etcd.defer(() => proxy.close());
    const reader = etcd.client();
    const versionAfterLostReply = async (client: Etcd3, key: string) => {
      await client.get('warm-up'); // connection established through the proxy
      const put = client.put(key).value('x').exec();
      const lost = proxy.loseReplies(300);
      const outcome = await put.then(
        () => 'resolved',
        () => 'rejected',
      );
      await lost;
      const kv = (await reader.get(key).exec()).kvs[0];
      return { outcome, version: Number(kv?.version ?? 0) };
    };
    const ours = await versionAfterLostReply(
      etcd.client({ endpoints: [proxy.endpoint] }),
      `${uniquePrefix('client')}ours`,
    );
    const plain = new Etcd3({ hosts: [proxy.endpoint] });
    etcd.defer(() => {
      plain.close();
    });
    const theirs = await versionAfterLostReply(plain, `${uniquePrefix('client')}theirs`);
    console.log(`lost reply: createClient ${JSON.stringify(ours)}, etcd3 defaults ${JSON.stringify(theirs)}`);
    // Executed once, and the caller is told the outcome is unknown instead of a silent retry.
    expect(ours).toEqual({ outcome: 'rejected', version: 1 });
    expect(theirs.version).toBe(2);
  });

  it('reconnects a watch within about a second of etcd coming back', async () => {
    const client = etcd.client();
    const writer = etcd.client();
    const key = `${uniquePrefix('client')}watched`;
    const seen: string[] = [];
    let created = false;
    const sub = watch(client, { key }, { onCreated: () => (created = true) }).subscribe((b) => {
      for (const e of b.events) seen.push(e.kv.value.toString());
    });
    etcd.defer(() => {
      sub.unsubscribe();
    });
    await eventually(() => created, 5000, 'watch created');
    const member = etcd.cluster().members[0]!;
    await member.kill('SIGKILL');
    try {
      await new Promise((r) => setTimeout(r, 3000)); // long enough for a default backoff to grow
    } finally {
      await member.start();
    }
    const back = Date.now();
    await writer.put(key).value('after');
    await eventually(() => seen.includes('after'), 10_000, 'event after restart');
    const took = Date.now() - back;
    console.log(`watch event after etcd restart: ${took} ms`);
    expect(took).toBeLessThan(5000);
  });

  it('notices a stalled connection (no RST) with gRPC keep-alive and resumes the watch', async () => {
    const proxy = await startProxy(etcd.cluster().endpoints[0]!);
    etcd.defer(() => proxy.close());
    const client = etcd.client({ endpoints: [proxy.endpoint] });
    const writer = etcd.client();
    const key = `${uniquePrefix('client')}stalled`;
    const seen: string[] = [];
    let created = false;
    const sub = watch(client, { key }, { onCreated: () => (created = true) }).subscribe((b) => {
      for (const e of b.events) seen.push(e.kv.value.toString());
    });
    etcd.defer(() => {
      sub.unsubscribe();
    });
    await eventually(() => created, 5000, 'watch created');
    proxy.freeze();
    const frozen = Date.now();
    await writer.put(key).value('during-stall');
    // Without keep-alive pings the watch would wait on the dead connection forever.
    await eventually(() => seen.includes('during-stall'), 25_000, 'event through a new connection');
    console.log(`stalled connection replaced; event arrived after ${Date.now() - frozen} ms`);
  }, 40_000);
});

describe('createClient against a 3-member cluster with a dead member', () => {
  const etcd = usePrivateEtcd({ members: 3 });

  it('steers calls, reads and writes, away from the dead member', async () => {
    const leader = await etcd.cluster().leader();
    const follower = etcd.cluster().members.find((m) => m !== leader)!;
    const client = etcd.client();
    const plain = new Etcd3({
      hosts: etcd.cluster().endpoints,
      faultHandling: { host: () => new NoopPolicy(), global: new NoopPolicy() },
    });
    etcd.defer(() => {
      plain.close();
    });
    const prefix = uniquePrefix('client');
    await client.put(`${prefix}warm`).value('1');
    await follower.kill('SIGKILL');
    try {
      let failed = 0;
      let plainFailed = 0;
      for (let i = 0; i < 30; i++) {
        await client
          .put(`${prefix}k${i}`)
          .value(String(i))
          .exec()
          .catch(() => failed++);
        await client.get(`${prefix}k${i}`).catch(() => failed++);
        await plain.get(`${prefix}k${i}`).catch(() => plainFailed++);
      }
      console.log(
        `1 of 3 members dead: ${failed}/60 calls failed (etcd3 without breaker or retries: ${plainFailed}/30)`,
      );
      expect(failed).toBe(0);
      expect(plainFailed).toBeGreaterThan(0); // the measurement can tell the difference
    } finally {
      await follower.start();
    }
  });
});
