import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import { currentToken, invalidateToken, isInvalidAuthToken } from '../core/auth.js';
import { streamCallOptions } from '../core/require-leader.js';
import { cancelStream } from '../core/streams.js';
import { streamBroken, streamRestored } from '../diagnostics/publish.js';

/** What a lease's owner hears from the shared keep-alive stream. */
export interface KeepAliveListener {
  /** A renewal was answered: `ttl` seconds from the server (≤ 0 means the lease is gone). */
  onRenewed(ttl: number, revision: bigint): void;
  /** The stream broke: renewals in flight will never be answered. */
  onStreamBroken(error: Error): void;
}

const hubs = new WeakMap<Etcd3, KeepAliveHub>();

/**
 * One LeaseKeepAlive stream per client, shared by every session on it (as Go's lessor does):
 * 128 sessions cost one HTTP/2 stream, not 128. The stream is opened by the first lease that
 * registers and closed when the last one leaves, so an idle client holds no stream open.
 */
export class KeepAliveHub {
  private readonly listeners = new Map<string, KeepAliveListener>();
  private stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined;
  private opening: Promise<void> | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** Renewals asked for while the stream is being opened, sent as soon as it is up. */
  private readonly queued = new Set<string>();

  private constructor(private readonly client: Etcd3) {}

  /** The hub of `client`, created on first use. */
  static of(client: Etcd3): KeepAliveHub {
    let hub = hubs.get(client);
    if (!hub) {
      hub = new KeepAliveHub(client);
      hubs.set(client, hub);
    }
    return hub;
  }

  /** Starts routing renewals of `leaseId` to `listener`; returns the function that stops it. */
  register(leaseId: string, listener: KeepAliveListener): () => void {
    this.listeners.set(leaseId, listener);
    this.ensureOpen();
    return () => {
      if (this.listeners.get(leaseId) !== listener) return;
      this.listeners.delete(leaseId);
      if (this.listeners.size === 0) this.shutdown();
    };
  }

  /**
   * Sends one renewal, or queues it while the stream is being opened; false when the stream is
   * down (the caller counts that as a failed renewal).
   */
  renew(leaseId: string): boolean {
    if (this.stream) {
      this.stream.write({ ID: leaseId });
      return true;
    }
    if (this.opening) {
      this.queued.add(leaseId);
      return true;
    }
    this.ensureOpen();
    return false;
  }

  private ensureOpen(): void {
    if (this.stream || this.opening || this.reopenTimer || this.listeners.size === 0) return;
    this.opening = this.open().finally(() => {
      this.opening = undefined;
    });
  }

  private async open(): Promise<void> {
    let stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;
    try {
      stream = await this.client.leaseClient.leaseKeepAlive(streamCallOptions(this.client));
    } catch (err) {
      this.broken(err as Error);
      return;
    }
    if (this.listeners.size === 0) {
      cancelStream(stream);
      return;
    }
    this.stream = stream;
    const token = currentToken(this.client);
    let ended = false;
    const end = (err: Error) => {
      if (ended) return;
      ended = true;
      // The stream keeps the token it was opened with. etcd 3.4 does not check it on keep-alives,
      // but a server that refuses it gets a fresh one on the reopened stream (see core/auth.ts).
      if (isInvalidAuthToken(err)) invalidateToken(this.client, token);
      if (this.stream === stream) this.stream = undefined;
      this.broken(err);
    };
    stream.on('data', (res) => {
      if (this.failures > 0) streamRestored(this, 'keep-alive', this.failures);
      this.failures = 0;
      const id = normalizeId(res.ID);
      this.listeners.get(id)?.onRenewed(Number(res.TTL), BigInt(res.header.revision));
    });
    stream.on('error', (err) => {
      end(err);
    });
    stream.on('end', () => {
      end(new Error('the lease keep-alive stream ended'));
    });
    for (const id of this.queued) if (this.listeners.has(id)) stream.write({ ID: id });
    this.queued.clear();
  }

  private broken(error: Error): void {
    this.queued.clear();
    for (const listener of [...this.listeners.values()]) listener.onStreamBroken(error);
    if (this.listeners.size === 0 || this.reopenTimer) return;
    streamBroken(this, error);
    // Reconnect quickly at first: a lease survives an etcd restart only if renewals resume in time.
    const delay = Math.min(1000, 25 * 2 ** Math.min(this.failures++, 6));
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      this.ensureOpen();
    }, delay);
  }

  private shutdown(): void {
    clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    if (stream) cancelStream(stream);
  }
}

/** etcd3 gives lease ids as decimal strings; normalise so "0123" and "123" never differ. */
export function normalizeId(id: string): string {
  return BigInt(id).toString();
}
