import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on a free loopback port in front of one etcd endpoint, to cut a single client off
 * (a partition as that client sees it) while etcd stays up for everyone else.
 */
export interface TcpProxy {
  /** `http://127.0.0.1:PORT` to give the client instead of etcd's own URL. */
  endpoint: string;
  /** Drops every connection and refuses new ones until {@link resume}. */
  cut(): void;
  /**
   * Stalls every open connection without closing it (a half-open path: no RST, no data), as a
   * dead router would. New connections still go through.
   */
  freeze(): void;
  resume(): void;
  /**
   * From now on, lets requests through but swallows etcd's answers, then after `ms` drops the
   * connections: a request that etcd executed while the client saw only a broken connection.
   */
  loseReplies(ms: number): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(target: string): Promise<TcpProxy> {
  const url = new URL(target);
  const sockets = new Set<Socket>();
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let cut = false;
  const server: Server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(url.port), url.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
    const pair = { client, upstream };
    pairs.add(pair);
    client.on('close', () => pairs.delete(pair));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    freeze() {
      for (const s of sockets) {
        s.unpipe();
        s.pause();
      }
    },
    resume() {
      cut = false;
    },
    async loseReplies(ms: number) {
      const current = [...pairs];
      for (const { upstream, client } of current) upstream.unpipe(client);
      await new Promise((r) => setTimeout(r, ms));
      for (const { upstream, client } of current) {
        upstream.destroy();
        client.destroy();
      }
    },
    close() {
      cut = true;
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
