import { createServer, connect, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * A TCP proxy on a free loopback port in front of one etcd endpoint: the client under test talks
 * to etcd through it with its own, unmodified transport (etcd3's gRPC over HTTP/2), and the test
 * breaks that path the ways a network does.
 *
 * What TCP-level faults can and cannot do (gRPC multiplexes every call of a client over one
 * HTTP/2 connection):
 * - a fault hits a whole connection, hence every call in flight on it, never one call alone;
 * - replies cannot be dropped per call: HTTP/2 header frames are HPACK-compressed against a
 *   table that every frame updates, so removing one response's frames corrupts the rest of the
 *   connection. What is reliable is {@link TcpProxy.blackholeRepliesFromNextRequest}: the
 *   client→etcd bytes are parsed into HTTP/2 frames (their 9-byte headers are not compressed),
 *   and from the first frame that opens a new call every reply is dropped. That call and every
 *   later one reaches etcd and runs there; the client gets none of the answers.
 */
export interface TcpProxy {
  /** `http://127.0.0.1:PORT` to give the client instead of etcd's own URL. */
  endpoint: string;
  /** The etcd endpoint behind the proxy. */
  target: string;
  /** Drops every connection and refuses new ones until {@link resume}. */
  cut(): void;
  /**
   * Stalls every open connection without closing it (a half-open path: no RST, no data), as a
   * dead router would. New connections still go through.
   */
  freeze(): void;
  /**
   * Heals every fault: accepts connections again, thaws frozen ones, ends a blackhole, arms no
   * more, and removes delays. {@link restore} is the same call.
   */
  resume(): void;
  restore(): void;
  /**
   * From now on, lets requests through but swallows etcd's answers, then after `ms` drops the
   * connections: a request that etcd executed while the client saw only a broken connection.
   */
  loseReplies(ms: number): Promise<void>;
  /**
   * Adds latency: bytes towards etcd wait `toEtcd` ms, bytes towards the client `toClient` ms
   * (order within a direction is kept). `delay(0)` removes it.
   */
  delay(ms: number | { toEtcd?: number; toClient?: number }): void;
  /**
   * Forwards client→etcd bytes but drops every etcd→client byte, on open and new connections,
   * until {@link resume}. Connections stay open: the client sees its deadlines pass (and, later,
   * its gRPC keep-alive fail), not a reset. Everything it sent meanwhile was executed by etcd.
   */
  blackholeReplies(): void;
  /**
   * Arms a blackhole that starts with the next request: the first HTTP/2 frame that opens a new
   * stream (a new unary call or stream) switches {@link blackholeReplies} on before that frame is
   * forwarded, so etcd executes the request and its reply is lost. Resolves with the time it
   * struck (epoch ms), or with undefined if {@link resume} disarmed it first.
   */
  blackholeRepliesFromNextRequest(): Promise<number | undefined>;
  /** Resets every open connection (TCP RST to the client), mid-call. New connections go through. */
  reset(): void;
  /** What went through, for reports. */
  readonly stats: ProxyStats;
  close(): Promise<void>;
}

export interface ProxyStats {
  connections: number;
  bytesToEtcd: number;
  bytesToClient: number;
  /** etcd→client bytes a blackhole or {@link TcpProxy.loseReplies} swallowed */
  bytesDropped: number;
  /** calls (HTTP/2 streams) the clients opened */
  streamsOpened: number;
  resets: number;
}

const now = (): number => performance.timeOrigin + performance.now();

/** HTTP/2's connection preface, which a client sends before its first frame. */
const PREFACE_LENGTH = 24;
const FRAME_HEADER_LENGTH = 9;
const HEADERS_FRAME = 0x1;

/**
 * Finds new streams in a client's HTTP/2 byte stream, across chunk boundaries: only frame
 * headers are read, payloads are skipped (they may be compressed or encrypted, never needed).
 */
class FrameScanner {
  private prefaceLeft = PREFACE_LENGTH;
  private header = Buffer.alloc(0);
  private skip = 0;
  private maxStream = 0;

  /** The byte offset in `chunk` of each frame that opens a new stream. */
  scan(chunk: Buffer): number[] {
    const opened: number[] = [];
    let i = 0;
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, chunk.length);
      this.prefaceLeft -= n;
      i += n;
    }
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const start = i - this.header.length;
      const need = FRAME_HEADER_LENGTH - this.header.length;
      const piece = chunk.subarray(i, i + need);
      this.header = Buffer.concat([this.header, piece]);
      i += piece.length;
      if (this.header.length < FRAME_HEADER_LENGTH) break;
      const length = this.header.readUIntBE(0, 3);
      const type = this.header[3]!;
      const stream = this.header.readUInt32BE(5) & 0x7fffffff;
      this.header = Buffer.alloc(0);
      this.skip = length;
      if (type === HEADERS_FRAME && stream > this.maxStream) {
        this.maxStream = stream;
        opened.push(Math.max(0, start));
      }
    }
    return opened;
  }
}

interface Pair {
  client: Socket;
  upstream: Socket;
  frozen: boolean;
  /** loseReplies(): this connection's replies are swallowed until it is dropped */
  losing: boolean;
}

export async function startProxy(target: string): Promise<TcpProxy> {
  const url = new URL(target);
  const pairs = new Set<Pair>();
  let refusing = false;
  let blackhole = false;
  let delayToEtcd = 0;
  let delayToClient = 0;
  let armed: ((t: number | undefined) => void) | undefined;
  const stats: ProxyStats = {
    connections: 0,
    bytesToEtcd: 0,
    bytesToClient: 0,
    bytesDropped: 0,
    streamsOpened: 0,
    resets: 0,
  };

  /** Writes in order, after `delay()`'s latency if any: each chunk leaves no earlier than the last. */
  const sender = (to: Socket, latency: () => number) => {
    let lastAt = 0;
    return (chunk: Buffer) => {
      const ms = latency();
      if (ms <= 0 && lastAt <= now()) {
        if (!to.destroyed) to.write(chunk);
        return;
      }
      const at = Math.max(now() + ms, lastAt);
      lastAt = at;
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, at - now());
    };
  };

  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    stats.connections++;
    const upstream = connect(Number(url.port), url.hostname);
    const pair: Pair = { client, upstream, frozen: false, losing: false };
    pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
    const toEtcd = sender(upstream, () => delayToEtcd);
    const toClient = sender(client, () => delayToClient);
    const scanner = new FrameScanner();
    client.on('data', (chunk: Buffer) => {
      stats.bytesToEtcd += chunk.length;
      const opened = scanner.scan(chunk);
      stats.streamsOpened += opened.length;
      if (opened.length > 0 && armed) {
        // Before the request leaves: its reply, whenever etcd sends it, meets the blackhole.
        blackhole = true;
        const strike = armed;
        armed = undefined;
        strike(now());
      }
      toEtcd(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (blackhole || pair.losing) {
        stats.bytesDropped += chunk.length;
        return;
      }
      stats.bytesToClient += chunk.length;
      toClient(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');

  const destroyAll = () => {
    for (const p of pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    pairs.clear();
  };
  const resume = () => {
    refusing = false;
    blackhole = false;
    delayToEtcd = 0;
    delayToClient = 0;
    armed?.(undefined);
    armed = undefined;
    for (const p of pairs) {
      if (!p.frozen) continue;
      p.frozen = false;
      p.client.resume();
      p.upstream.resume();
    }
  };
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    target,
    stats,
    cut() {
      refusing = true;
      destroyAll();
    },
    freeze() {
      for (const p of pairs) {
        p.frozen = true;
        p.client.pause();
        p.upstream.pause();
      }
    },
    resume,
    restore: resume,
    async loseReplies(ms: number) {
      const current = [...pairs];
      for (const p of current) p.losing = true;
      await new Promise((r) => setTimeout(r, ms));
      for (const p of current) {
        p.upstream.destroy();
        p.client.destroy();
      }
    },
    delay(ms) {
      if (typeof ms === 'number') {
        delayToEtcd = ms;
        delayToClient = ms;
      } else {
        delayToEtcd = ms.toEtcd ?? 0;
        delayToClient = ms.toClient ?? 0;
      }
    },
    blackholeReplies() {
      blackhole = true;
    },
    blackholeRepliesFromNextRequest() {
      armed?.(undefined);
      return new Promise((resolve) => {
        armed = resolve;
      });
    },
    reset() {
      for (const p of [...pairs]) {
        stats.resets++;
        p.client.resetAndDestroy();
        p.upstream.destroy();
        pairs.delete(p);
      }
    },
    close() {
      refusing = true;
      armed?.(undefined);
      armed = undefined;
      destroyAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** One proxy per member of a cluster, so a test can cut one member off from one client. */
export interface MemberProxies {
  /** The proxies' endpoints, in the members' order: give them to the client. */
  endpoints: string[];
  proxies: TcpProxy[];
  /** The proxy in front of the member with this client URL. */
  of(memberUrl: string): TcpProxy;
  /** Cuts this client off from one member (by index), the others stay reachable. */
  isolate(index: number): void;
  /** Heals every proxy. */
  restore(): void;
  close(): Promise<void>;
}

export async function startMemberProxies(targets: readonly string[]): Promise<MemberProxies> {
  const proxies = await Promise.all(targets.map((t) => startProxy(t)));
  return {
    endpoints: proxies.map((p) => p.endpoint),
    proxies,
    of(memberUrl) {
      const p = proxies.find((x) => x.target === memberUrl);
      if (!p) throw new Error(`no proxy in front of ${memberUrl}`);
      return p;
    },
    isolate(index) {
      const p = proxies[index];
      if (!p) throw new Error(`no member ${index}: there are ${proxies.length}`);
      p.cut();
    },
    restore() {
      for (const p of proxies) p.restore();
    },
    async close() {
      await Promise.all(proxies.map((p) => p.close()));
    },
  };
}
