import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy that can hold back etcd's bytes for a while and then deliver them all, in
 * order, without dropping the connection: a slow network path, as opposed to the cut or frozen
 * one test/support/proxy.ts gives. Data is queued while stalled, never lost.
 */
export interface StallProxy {
  /** `http://127.0.0.1:PORT` to give the client instead of etcd's own URL. */
  endpoint: string;
  /** Holds back everything from now on, both ways, until {@link flow}. */
  stall(): void;
  /** Delivers what was held back, in order, and lets data flow again. */
  flow(): void;
  /** Closes every open connection (new ones are accepted, and stalled if {@link stall} is on). */
  drop(): void;
  close(): Promise<void>;
}

export async function startStallProxy(target: string): Promise<StallProxy> {
  const url = new URL(target);
  const pipes = new Set<Pipe>();
  const sockets = new Set<Socket>();
  let stalled = false;

  class Pipe {
    private held: Buffer[] = [];
    constructor(
      readonly from: Socket,
      readonly to: Socket,
    ) {
      from.on('data', (chunk: Buffer) => {
        if (stalled) this.held.push(chunk);
        else to.write(chunk);
      });
    }
    release(): void {
      for (const chunk of this.held.splice(0)) this.to.write(chunk);
    }
  }

  const server: Server = createServer((client) => {
    const upstream = connect(Number(url.port), url.hostname);
    const both = [new Pipe(client, upstream), new Pipe(upstream, client)];
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => {
        sockets.delete(s);
        for (const p of both) pipes.delete(p);
      });
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    for (const p of both) pipes.add(p);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    stall() {
      stalled = true;
    },
    flow() {
      stalled = false;
      for (const p of pipes) p.release();
    },
    drop() {
      for (const s of sockets) s.destroy();
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
