import { streamCallOptions, streamsRequireLeader } from '../etcd/require-leader.js';
import { streamBroken, streamRestored } from '../diagnostics/publish.js';
import { performance } from 'node:perf_hooks';
import {
  type Etcd3,
  GRPCUnavailableError,
  type IDuplexStream,
  type ILeaseKeepAliveRequest,
  type ILeaseKeepAliveResponse,
  LeaseClient,
} from 'etcd3';
import { currentToken, invalidateToken, isInvalidAuthToken } from '../etcd/auth.js';
import { clientState, slotKey } from '../etcd/client-state.js';
import { type StreamMember, openOnMember } from '../etcd/stream-member.js';
import { cancelStream } from '../etcd/streams.js';
import { LeaderCheck } from './leader-check.js';
import { RenewalLedger, type RenewalSend } from './renewals.js';

/** What a session hears from the shared keep-alive stream about its lease. */
export interface KeepAliveListener {
  /**
   * A renewal of the lease was answered: `ttl` seconds from the server (≤ 0 means the lease is
   * gone), `answers` the request it answers, whoever sent it (undefined when it cannot be paired).
   */
  onRenewed(ttl: number, revision: bigint, answers: RenewalSend | undefined): void;
  /** The stream broke: renewals in flight will never be answered. */
  onStreamBroken(error: Error): void;
  /** A new stream is up: renewals can be sent again. */
  onStreamReady(): void;
  /** Another session on this client revoked the lease. */
  onRevoked(): void;
}

type Stream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

const HUB = slotKey<KeepAliveHub>('keep-alive hub');

/**
 * One LeaseKeepAlive stream per client, shared by every session on it (as Go's lessor does):
 * 128 sessions cost one HTTP/2 stream, not 128. The stream is opened by the first session that
 * registers and closed when the last one leaves, so an idle client holds no stream open. Several
 * sessions may share one lease: each hears every renewal of it.
 *
 * While a renewal on the stream is overdue, the hub asks the stream's member whether it still has a
 * raft leader (see ./leader-check.ts); a "no leader" ends the stream at once, as etcd itself would
 * only after three election timeouts, so every session on it reports `suspended` and the stream
 * reopens, on another member when the client has one. Not with `requireLeader: false`.
 */
export class KeepAliveHub {
  private readonly listeners = new Map<string, Set<KeepAliveListener>>();
  private readonly ledger = new RenewalLedger();
  private stream: Stream | undefined;
  private opening: Promise<void> | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** The current stream's member, when the leader check is on (see {@link checkLeader}). */
  private member: StreamMember | undefined;
  private check = new LeaderCheck();
  private checkTimer: NodeJS.Timeout | undefined;
  /** Ends the current stream with an error, as if etcd had ended it. */
  private failStream: ((error: Error) => void) | undefined;
  /** Renewals asked for while the stream is being opened (latest seq per lease), sent once it is up. */
  private readonly queued = new Map<string, number>();

  private constructor(private readonly client: Etcd3) {}

  /** The hub of `client`, created on first use. */
  static of(client: Etcd3): KeepAliveHub {
    return clientState(client).slot(HUB, () => new KeepAliveHub(client));
  }

  /** Starts routing renewals of `leaseId` to `listener`; returns the function that stops it. */
  register(leaseId: string, listener: KeepAliveListener): () => void {
    let set = this.listeners.get(leaseId);
    if (!set) {
      set = new Set();
      this.listeners.set(leaseId, set);
    }
    set.add(listener);
    this.ensureOpen();
    return () => {
      const current = this.listeners.get(leaseId);
      if (!current?.delete(listener)) return;
      if (current.size === 0) this.listeners.delete(leaseId);
      if (this.listeners.size === 0) this.shutdown();
    };
  }

  /**
   * Sends one renewal of `leaseId`, or queues it while the stream is being opened: its sequence
   * number (see {@link KeepAliveListener.onRenewed}), or undefined when the stream is down (the
   * caller counts that as a failed renewal).
   */
  renew(leaseId: string): number | undefined {
    if (this.stream) {
      const seq = this.ledger.nextSeq();
      this.stream.write({ ID: leaseId });
      this.ledger.written(leaseId, { seq, sentAt: performance.now() });
      this.armCheck();
      return seq;
    }
    if (this.opening) {
      // One request per lease goes out when the stream is up; its reply answers all queued asks.
      const seq = this.ledger.nextSeq();
      this.queued.set(leaseId, seq);
      return seq;
    }
    this.ensureOpen();
    return undefined;
  }

  /** Tells the other sessions on `leaseId` that `by` revoked it. */
  revoked(leaseId: string, by: KeepAliveListener): void {
    for (const listener of [...(this.listeners.get(leaseId) ?? [])])
      if (listener !== by) listener.onRevoked();
  }

  private ensureOpen(): void {
    if (this.stream || this.opening || this.reopenTimer || this.listeners.size === 0) return;
    this.opening = this.open().finally(() => {
      this.opening = undefined;
    });
  }

  private async open(): Promise<void> {
    let stream: Stream;
    let member: StreamMember | undefined;
    try {
      const options = streamCallOptions(this.client);
      ({ stream, member } = await openOnMember(
        this.client,
        (pool) => new LeaseClient(pool).leaseKeepAlive(options),
        () => this.client.leaseClient.leaseKeepAlive(options),
      ));
    } catch (err) {
      this.broken(err as Error);
      return;
    }
    if (this.listeners.size === 0) {
      this.queued.clear();
      cancelStream(stream);
      return;
    }
    this.stream = stream;
    this.member = streamsRequireLeader(this.client) ? member : undefined;
    this.check = new LeaderCheck();
    const generation = this.ledger.reset();
    const token = currentToken(this.client);
    let ended = false;
    const end = (err: Error) => {
      if (ended) return;
      ended = true;
      // The stream keeps the token it was opened with. etcd 3.4 does not check it on keep-alives,
      // but a server that refuses it gets a fresh one on the reopened stream (see core/auth.ts).
      if (isInvalidAuthToken(err)) invalidateToken(this.client, token);
      // A stream we replaced or cancelled (the last session left) reports nothing to the
      // sessions registered since: it is not theirs.
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.broken(err);
    };
    this.failStream = (err) => {
      end(err);
      cancelStream(stream);
    };
    stream.on('data', (res) => {
      if (this.stream !== stream) return;
      if (this.failures > 0) streamRestored(this, 'keep-alive', this.failures);
      this.failures = 0;
      const id = normalizeId(res.ID);
      const answers = this.ledger.answered(generation, id);
      if (answers) this.check.answered(answers.sentAt, performance.now());
      if (this.ledger.idle) this.stopCheck();
      const ttl = Number(res.TTL);
      const revision = BigInt(res.header.revision);
      for (const listener of [...(this.listeners.get(id) ?? [])]) listener.onRenewed(ttl, revision, answers);
    });
    stream.on('error', (err) => {
      end(err);
    });
    stream.on('end', () => {
      end(new Error('the lease keep-alive stream ended'));
    });
    const queued = [...this.queued];
    this.queued.clear();
    for (const [id, seq] of queued) {
      if (!this.listeners.has(id)) continue;
      stream.write({ ID: id });
      this.ledger.written(id, { seq, sentAt: performance.now() });
    }
    this.armCheck();
    for (const set of [...this.listeners.values()]) for (const listener of [...set]) listener.onStreamReady();
  }

  private broken(error: Error): void {
    this.queued.clear();
    this.ledger.reset();
    this.forgetStream();
    for (const set of [...this.listeners.values()])
      for (const listener of [...set]) listener.onStreamBroken(error);
    if (this.listeners.size === 0 || this.reopenTimer) return;
    streamBroken(this, error);
    // Reconnect quickly at first: a lease survives an etcd restart only if renewals resume in time.
    const delay = Math.min(1000, 25 * 2 ** Math.min(this.failures++, 6));
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      this.ensureOpen();
    }, delay);
  }

  /** Arms the leader check for the oldest unanswered renewal, unless it is armed or not due. */
  private armCheck(): void {
    if (this.checkTimer || !this.member || !this.stream) return;
    const at = this.check.dueAt(this.ledger.oldestSentAt());
    if (at === Number.POSITIVE_INFINITY) return;
    this.checkTimer = setTimeout(
      () => {
        this.checkTimer = undefined;
        this.checkLeader();
      },
      Math.max(0, at - performance.now()),
    );
  }

  /**
   * A renewal is overdue: asks the stream's member whether it has a leader. "No leader" ends the
   * stream (the probe has marked the host failed, so the reopen prefers another member); any
   * other answer leaves it alone and the check is paced on while renewals stay unanswered.
   */
  private checkLeader(): void {
    const { stream, member, check } = this;
    if (!stream || !member) return;
    const now = performance.now();
    if (now < check.dueAt(this.ledger.oldestSentAt())) {
      this.armCheck();
      return;
    }
    check.started(now);
    void member.leaderStatus(check.timing.probeTimeoutMs).then((verdict) => {
      check.finished();
      if (this.stream !== stream) return;
      // Renewals answered meanwhile prove a leader since: only a stall that outlived the probe counts.
      const oldest = this.ledger.oldestSentAt();
      if (verdict === 'no-leader' && oldest !== undefined && oldest <= now)
        this.failStream?.(noLeader(member.host));
      else this.armCheck();
    });
  }

  private stopCheck(): void {
    clearTimeout(this.checkTimer);
    this.checkTimer = undefined;
  }

  /** The current stream is gone: so are its member and its check. */
  private forgetStream(): void {
    this.stopCheck();
    this.member = undefined;
    this.failStream = undefined;
  }

  private shutdown(): void {
    clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    this.queued.clear();
    this.ledger.reset();
    this.forgetStream();
    const stream = this.stream;
    this.stream = undefined;
    if (stream) cancelStream(stream);
  }
}

/** The error a stream ends with when the leader check finds its member cut off from the quorum. */
function noLeader(host: string): Error {
  return new GRPCUnavailableError(
    `etcdserver: no leader (${host} has no raft leader: a renewal went unanswered and the member said so when asked)`,
  );
}

/** etcd3 gives lease ids as decimal strings; normalise so "0123" and "123" never differ. */
export function normalizeId(id: string): string {
  return BigInt(id).toString();
}
