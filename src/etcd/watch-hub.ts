import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  castGrpcError,
  castGrpcErrorMessage,
  type Etcd3,
  type IDuplexStream,
  type IWatchRequest,
  type IWatchResponse,
} from 'etcd3';
import { currentToken, invalidateToken, isInvalidAuthToken } from './auth.js';
import { clientState, slotKey } from './client-state.js';
import { tlsHint } from './etcd-errors.js';
import { type WatchBatch, WatchCompactedError, type WatchEvent, toKeyValue } from './kv.js';
import { streamCallOptions } from './require-leader.js';
import { cancelStream } from './streams.js';
import { streamBroken, streamRestored } from '../diagnostics/publish.js';

/** One watch as the hub tracks it; made by `watch()`. */
export interface WatchEntry {
  request: NonNullable<IWatchRequest['create_request']>;
  /** Where to (re)start: undefined until the first creation answers when watching from now on. */
  nextRevision: bigint | undefined;
  id: string | undefined;
  onBatch(batch: WatchBatch): void;
  onError(err: Error): void;
  onCreated: ((revision: bigint) => void) | undefined;
  /** Creations refused for an invalid auth token in a row (each renews the token once). */
  tokenRenewals: number;
  /** Batches held back while the history before the start revision is checked (see checkHistory). */
  held?: WatchBatch[] | undefined;
}

/** A watch refused this many times in a row for an invalid token, even after renewals, fails. */
const MAX_TOKEN_RENEWALS = 3;

const HUB = slotKey<WatchHub>('watch hub');

/**
 * The one watch stream of a client. etcd answers watch creations in order but gives no way to
 * match a reply to its request on 3.4, so creations go one at a time.
 */
export class WatchHub {
  private stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
  /** The auth token the stream was opened with (see ./auth.ts). */
  private streamToken: unknown;
  private connecting = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;
  private readonly active = new Map<string, WatchEntry>();
  private readonly toCreate: WatchEntry[] = [];
  private creating: WatchEntry | undefined;

  private constructor(private readonly client: Etcd3) {
    clientState(client).onClose(() => {
      this.shutdown(new Error('the etcd client was closed'));
    });
  }

  static of(client: Etcd3): WatchHub {
    return clientState(client).slot(HUB, () => new WatchHub(client));
  }

  add(entry: WatchEntry): void {
    if (this.closed) {
      entry.onError(new Error('the etcd client was closed'));
      return;
    }
    this.toCreate.push(entry);
    this.pump();
  }

  remove(entry: WatchEntry): void {
    const queued = this.toCreate.indexOf(entry);
    if (queued >= 0) this.toCreate.splice(queued, 1);
    if (entry.id !== undefined) {
      this.active.delete(entry.id);
      this.stream?.write({ cancel_request: { watch_id: entry.id } });
      entry.id = undefined;
    }
    // `creating` stays: its reply still has to be consumed in order; it is cancelled when it comes.
    if (this.creating === entry)
      this.creating = { ...entry, onBatch: noop, onError: noop, onCreated: undefined };
    this.closeIfIdle();
  }

  private pump(): void {
    if (this.closed) return;
    if (!this.stream) {
      this.connect();
      return;
    }
    if (this.creating) return;
    const next = this.toCreate.shift();
    if (!next) return;
    this.creating = next;
    const start = next.nextRevision;
    this.stream.write({
      create_request: {
        ...next.request,
        ...(start === undefined ? {} : { start_revision: start.toString() }),
      },
    });
  }

  private connect(): void {
    if (this.connecting || this.reconnectTimer || this.closed) return;
    this.connecting = true;
    this.client.watchClient.watch(streamCallOptions(this.client)).then(
      (stream) => {
        this.connecting = false;
        if (this.closed || this.idle()) {
          cancelStream(stream);
          return;
        }
        this.attach(stream);
      },
      (err: unknown) => {
        this.connecting = false;
        if (isConfigurationError(err)) this.failAll(castGrpcError(err as Error));
        else this.broken(err as Error);
      },
    );
  }

  private attach(stream: IDuplexStream<IWatchRequest, IWatchResponse>): void {
    this.stream = stream;
    const token = currentToken(this.client);
    this.streamToken = token;
    let ended = false;
    const end = (err: Error) => {
      if (ended) return;
      ended = true;
      // A server that refuses the stream itself for its token: reopen with a fresh one.
      if (isInvalidAuthToken(err)) invalidateToken(this.client, token);
      if (this.stream === stream) {
        this.stream = undefined;
        // Stream errors are raw gRPC errors: cast them, as unary calls' are, for translateError.
        if (isConfigurationError(err)) this.failAll(castGrpcError(err));
        else this.broken(err);
      }
    };
    stream.on('data', (res) => {
      // A stream replaced after a token renewal may still deliver what it had buffered.
      if (this.stream !== stream) return;
      if (this.failures > 0) streamRestored(this, 'watch', this.failures);
      this.failures = 0;
      this.handle(res);
    });
    stream.on('error', end);
    stream.on('end', () => {
      end(new Error('the watch stream ended'));
    });
    this.pump();
  }

  private handle(res: IWatchResponse): void {
    const revision = BigInt(res.header.revision);
    if (res.created) {
      const entry = this.creating;
      this.creating = undefined;
      if (entry) this.created(entry, res, revision);
      this.pump();
      this.closeIfIdle();
      return;
    }
    const entry = this.active.get(res.watch_id);
    if (!entry) return;
    if (res.canceled) {
      this.active.delete(res.watch_id);
      entry.id = undefined;
      entry.onError(cancelError(res));
      return;
    }
    if (res.events.length === 0) return;
    const events: WatchEvent[] = [];
    for (const ev of res.events) {
      const kv = toKeyValue(ev.kv);
      // After a resume, etcd may repeat what was already delivered: never report an event twice.
      if (entry.nextRevision !== undefined && kv.modRevision < entry.nextRevision) continue;
      events.push({ type: ev.type === 'Delete' ? 'delete' : 'put', kv });
    }
    const last = events.at(-1);
    if (!last) return;
    entry.nextRevision = last.kv.modRevision + 1n;
    if (entry.held) entry.held.push({ revision, events });
    else entry.onBatch({ revision, events });
  }

  private created(entry: WatchEntry, res: IWatchResponse, revision: bigint): void {
    if (res.canceled) {
      if (
        isInvalidAuthToken(res.cancel_reason) &&
        this.isWanted(entry) &&
        entry.tokenRenewals++ < MAX_TOKEN_RENEWALS
      ) {
        this.toCreate.unshift(entry);
        this.renewToken();
        return;
      }
      entry.onError(cancelError(res));
      return;
    }
    entry.tokenRenewals = 0;
    if (!this.isWanted(entry)) {
      this.stream?.write({ cancel_request: { watch_id: res.watch_id } });
      return;
    }
    entry.id = res.watch_id;
    this.active.set(res.watch_id, entry);
    if (entry.nextRevision !== undefined) this.checkHistory(entry, entry.nextRevision);
    entry.nextRevision ??= revision + 1n;
    const onCreated = entry.onCreated;
    entry.onCreated = undefined;
    onCreated?.(revision);
  }

  /**
   * etcd refused a watch creation because the stream's auth token expired: the stream keeps that
   * token for its life, so drop the cached token and reopen the stream. Its established watches
   * are not affected by the expiry but move along, resuming from their next revision.
   */
  private renewToken(): void {
    invalidateToken(this.client, this.streamToken);
    const stream = this.stream;
    this.stream = undefined;
    if (stream) cancelStream(stream);
    this.broken(new Error('the watch stream auth token expired'));
  }

  /**
   * Fails every watch, pending or established, without closing the hub (a later watch tries
   * again): for errors that retrying cannot fix, such as a wrong password.
   */
  private failAll(err: Error): void {
    const all = [...this.active.values(), ...this.toCreate];
    if (this.creating && this.isWanted(this.creating)) all.push(this.creating);
    this.active.clear();
    this.toCreate.length = 0;
    this.creating = undefined;
    this.closeIfIdle();
    for (const e of all) e.onError(err);
  }

  /** A removed entry that was mid-creation was replaced by a stand-in with no-op callbacks. */
  /**
   * A watch from revision `from` when etcd has compacted at exactly `from`: etcd accepts it, but
   * the compaction dropped the tombstones at `from`, so that revision's deletes would be missed
   * without an error. If the history just before `from` is gone, the watch is ended with
   * {@link WatchCompactedError} (its owner re-reads) instead. One count-only read per watch
   * that starts from a revision: a resume after a reconnect, or an explicit start.
   */
  private checkHistory(entry: WatchEntry, from: bigint): void {
    if (from <= 1n) return;
    const held: WatchBatch[] = [];
    entry.held = held;
    const release = () => {
      if (entry.held !== held) return;
      entry.held = undefined;
      for (const batch of held) entry.onBatch(batch);
    };
    const readAt = (rev: bigint) =>
      this.client.kv.range({
        key: entry.request.key ?? Buffer.alloc(0),
        ...(entry.request.range_end ? { range_end: entry.request.range_end } : {}),
        revision: rev.toString(),
        count_only: true,
      });
    const compacted = (err: unknown) => err instanceof Error && /compacted/i.test(err.message);
    readAt(from - 1n).then(release, async (err: unknown) => {
      if (!compacted(err)) {
        release(); // could not tell (etcd unreachable): the watch's own errors will say
        return;
      }
      // Compacted at `from` exactly (readable there), or later: then etcd cancels the watch
      // itself, naming its compact revision, and the held batches go with it.
      const verdict = await readAt(from).then(
        () => 'at' as const,
        (again: unknown) => (compacted(again) ? ('later' as const) : ('unknown' as const)),
      );
      if (verdict === 'unknown') release();
      if (verdict !== 'at') return;
      if (entry.held === held) entry.held = undefined;
      if (entry.id === undefined || this.active.get(entry.id) !== entry) return;
      this.remove(entry);
      entry.onError(new WatchCompactedError(from));
    });
  }

  private isWanted(entry: WatchEntry): boolean {
    return entry.onBatch !== noop;
  }

  private broken(err: Error): void {
    if (this.closed) return;
    // Every established watch goes back to the creation queue, in its original order, to resume
    // from the revision after its last delivered event.
    const resumed = [...this.active.values()];
    this.active.clear();
    for (const e of resumed) e.id = undefined;
    if (this.creating && this.isWanted(this.creating)) resumed.push(this.creating);
    this.creating = undefined;
    this.toCreate.unshift(...resumed);
    if (this.idle()) return;
    if (err instanceof ClientClosedError) {
      this.shutdown(err);
      return;
    }
    streamBroken(this, err);
    const delay = Math.min(1000, 25 * 2 ** Math.min(this.failures++, 6));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.pump();
    }, delay);
  }

  private idle(): boolean {
    return this.active.size === 0 && this.toCreate.length === 0 && this.creating === undefined;
  }

  private closeIfIdle(): void {
    if (!this.idle()) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    if (stream) cancelStream(stream);
  }

  private shutdown(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.active.values(), ...this.toCreate];
    if (this.creating && this.isWanted(this.creating)) all.push(this.creating);
    this.active.clear();
    this.toCreate.length = 0;
    this.creating = undefined;
    clearTimeout(this.reconnectTimer);
    const stream = this.stream;
    this.stream = undefined;
    if (stream) cancelStream(stream);
    for (const e of all) e.onError(err);
  }
}

/**
 * A wrong password, or a TLS handshake that fails over certificates, does not get better by
 * reconnecting: the watches fail with it instead of waiting forever on a stream that never opens.
 */
function isConfigurationError(err: unknown): boolean {
  return err instanceof EtcdAuthenticationFailedError || tlsHint(err) !== undefined;
}

function cancelError(res: IWatchResponse): Error {
  const compact = BigInt(res.compact_revision || '0');
  if (compact > 0n) return new WatchCompactedError(compact);
  // etcd's RBAC refused the watch: etcd3's typed error, which translateError maps for the caller.
  if (res.cancel_reason.includes('permission denied') || isInvalidAuthToken(res.cancel_reason)) {
    return castGrpcErrorMessage(res.cancel_reason);
  }
  return new Error(`etcd cancelled the watch${res.cancel_reason ? `: ${res.cancel_reason}` : ''}`);
}

function noop(): void {
  /* nothing */
}
