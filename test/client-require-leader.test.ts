import type { IDuplexStream, IWatchRequest, IWatchResponse } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { streamCallOptions } from '../src/etcd/require-leader.js';
import { txn, type TxnRequest } from '../src/etcd/txn.js';
import { watch } from '../src/etcd/watch.js';
import { InvalidArgumentError, createClient } from '../src/index.js';
import { eventually, usePrivateEtcd } from './support/clients.js';
import type { EtcdMember } from './support/etcd.js';

/**
 * etcd's require-leader metadata, against a real 3-member cluster of which two members are
 * stopped: the survivor is cut off from the quorum (it has no raft leader) but still answers.
 * The harness runs raft with a 500 ms election timeout. Each test logs what it measured.
 */
describe('createClient({ requireLeader }) on a member cut off from the quorum', () => {
  const etcd = usePrivateEtcd({ members: 3 });

  /** A follower: the member that will be left alone. */
  async function pickSurvivor(): Promise<EtcdMember> {
    const leader = await etcd.cluster().leader();
    return etcd.cluster().members.find((m) => m !== leader)!;
  }

  /** Stops every member but `survivor`; returns when they were stopped and how to restart them. */
  async function loseQuorum(survivor: EtcdMember) {
    const others = etcd.cluster().members.filter((m) => m !== survivor);
    const stoppedAt = performance.now();
    await Promise.all(others.map((m) => m.kill('SIGKILL')));
    return {
      stoppedAt,
      async restore() {
        await Promise.all(others.map((m) => m.start()));
        await etcd.cluster().leader();
      },
    };
  }

  /** Resolves once `member` itself reports that it has no leader. */
  async function noLeaderOn(member: EtcdMember): Promise<void> {
    const probe = etcd.client({ endpoints: [member.clientUrl], requireLeader: false, callTimeoutMs: 500 });
    await eventually(
      async () => (await probe.maintenance.status().catch(() => undefined))?.leader === '0',
      10_000,
      `${member.name} to lose its leader`,
    );
  }

  it('sessions on the survivor report suspended within seconds (their renewal deadline does most of it)', async () => {
    const survivor = await pickSurvivor();
    const suspendedAt = new Map<string, number>();
    // Created before the loss: a lease grant needs a leader.
    for (const requireLeader of [true, false]) {
      const session = await etcd.session(etcd.client({ endpoints: [survivor.clientUrl], requireLeader }));
      session.state$.subscribe((state) => {
        if (state === 'suspended' && !suspendedAt.has(String(requireLeader)))
          suspendedAt.set(String(requireLeader), performance.now());
      });
    }
    const outage = await loseQuorum(survivor);
    try {
      await eventually(() => suspendedAt.size === 2, 15_000, 'both sessions to be suspended');
    } finally {
      await outage.restore();
    }
    const flagged = Math.round(suspendedAt.get('true')! - outage.stoppedAt);
    const plain = Math.round(suspendedAt.get('false')! - outage.stoppedAt);
    console.log(`quorum lost: session suspended after ${flagged} ms with requireLeader, ${plain} ms without`);
    expect(flagged).toBeLessThan(4000); // ~2-2.5 s measured; headroom for a loaded CI machine
  }, 40_000);

  it('the streams the library opens are ended by the member with "no leader"; without the flag they stay open', async () => {
    const survivor = await pickSurvivor();
    const open = async (requireLeader: boolean) => {
      const client = etcd.client({ endpoints: [survivor.clientUrl], requireLeader });
      // The options the watch and keep-alive hubs open their streams with.
      const stream: IDuplexStream<IWatchRequest, IWatchResponse> = await client.watchClient.watch(
        streamCallOptions(client),
      );
      const ended: { at?: number; error?: Error } = {};
      stream.on('error', (error: Error) => {
        ended.at ??= performance.now();
        ended.error ??= error;
      });
      stream.on('data', () => undefined);
      stream.write({ create_request: { key: Buffer.from('require-leader/probe') } });
      etcd.defer(() => {
        stream.on('error', () => undefined);
        stream.end();
        stream.cancel();
      });
      return ended;
    };
    const flagged = await open(true);
    const plain = await open(false);
    // And a watch of the library's own hub on the flagged client: the "no leader" end is transient.
    const hubClient = etcd.client({ endpoints: [survivor.clientUrl] });
    const key = `require-leader/${Math.random().toString(16).slice(2)}`;
    const seen: string[] = [];
    const sub = watch(hubClient, { key }).subscribe({
      next: (batch) => {
        for (const e of batch.events) seen.push(e.kv.value.toString());
      },
      error: (err: unknown) => seen.push(`error: ${String(err)}`),
    });
    etcd.defer(() => {
      sub.unsubscribe();
    });
    await new Promise((r) => setTimeout(r, 300)); // both watches created
    const outage = await loseQuorum(survivor);
    try {
      await eventually(() => flagged.at !== undefined, 10_000, 'the flagged watch stream to end');
      // The member cancels a require-leader stream after three election timeouts without a leader.
      await new Promise((r) => setTimeout(r, 2000));
      expect(plain.error).toBeUndefined();
    } finally {
      await outage.restore();
    }
    console.log(`quorum lost: watch stream ended after ${Math.round(flagged.at! - outage.stoppedAt)} ms`);
    expect(flagged.error?.message).toMatch(/etcdserver: no leader/);
    await etcd.client().put(key).value('after');
    await eventually(() => seen.length > 0, 10_000, 'the hub watch to resume');
    expect(seen).toEqual(['after']);
  }, 40_000);

  it('with \'all\', a unary call fails at once with "no leader" instead of waiting for its deadline', async () => {
    const survivor = await pickSurvivor();
    const all = etcd.client({ endpoints: [survivor.clientUrl], requireLeader: 'all', callTimeoutMs: 2000 });
    const streams = etcd.client({ endpoints: [survivor.clientUrl], callTimeoutMs: 2000 });
    await Promise.all([all.get('warm-up'), streams.get('warm-up')]);
    const outage = await loseQuorum(survivor);
    try {
      await noLeaderOn(survivor);
      const timed = async (
        client: typeof all,
        call: (c: typeof all) => Promise<unknown> = (c) => c.get('k').string(),
      ) => {
        const started = performance.now();
        const error = await call(client).then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        return { error, ms: Math.round(performance.now() - started) };
      };
      const fast = await timed(all);
      const slow = await timed(streams);
      console.log(`no leader: get failed after ${fast.ms} ms with 'all', ${slow.ms} ms with 'streams'`);
      expect(fast.error?.message).toMatch(/etcdserver: no leader/);
      expect(fast.ms).toBeLessThan(1000);
      expect(slow.error?.message).not.toMatch(/no leader/); // it waited out its 2 s deadline
      expect(slow.ms).toBeGreaterThanOrEqual(1900);
      // txn()'s lean path (no interceptor chain) sends the metadata itself, only with 'all'.
      const read: TxnRequest = {
        compare: [],
        success: [{ kind: 'range', key: Buffer.from('k') }],
        failure: [],
      };
      const fastTxn = await timed(all, (client) => txn(client, read));
      const slowTxn = await timed(streams, (client) => txn(client, read));
      console.log(
        `no leader: txn() failed after ${fastTxn.ms} ms with 'all', ${slowTxn.ms} ms with 'streams'`,
      );
      expect(fastTxn.error?.message).toMatch(/etcdserver: no leader/);
      expect(fastTxn.ms).toBeLessThan(1000);
      expect(slowTxn.error?.message).not.toMatch(/no leader/);
      expect(slowTxn.ms).toBeGreaterThanOrEqual(1900);
    } finally {
      await outage.restore();
    }
  }, 40_000);

  it('refuses a requireLeader value it does not know', () => {
    expect(() => createClient({ requireLeader: 'yes' as unknown as boolean })).toThrow(InvalidArgumentError);
  });
});
