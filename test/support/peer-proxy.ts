import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of one member's peer URL that can cut raft traffic by sender: a network
 * partition between members, made with processes alone (no firewall, no namespaces).
 *
 * Raft messages between etcd members travel over HTTP/1.1 connections that the SENDER opens
 * (rafthttp's streams are dialled by the member that reads them, its pipeline POSTs by the one
 * that writes), and every such request names its sender in the `X-Server-From` header (the member
 * id in hex). The proxy reads the first request's headers of each connection to learn who opened
 * it. Cutting member A off takes A's own proxy refusing everyone, and every other proxy refusing
 * all but the members on its side. Connections that name no sender (version checks, lease
 * renewals a follower forwards to its leader) are refused too while a proxy refuses anyone: they
 * may come from A.
 */
export interface PeerProxy {
  /** `http://127.0.0.1:PORT`: the peer URL to advertise for the member. */
  readonly endpoint: string;
  /** The member's own peer URL. */
  readonly target: string;
  /** Drops connections from every sender but these members (ids in hex), and refuses new ones. */
  refuseAllBut(allowed: ReadonlySet<string>): void;
  /** Lets everything through again. */
  heal(): void;
  close(): Promise<void>;
}

const MAX_HEADER_BYTES = 64 * 1024;

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  /** The sender's member id, once read; null: the first request names none. */
  from: string | null | undefined;
}

export async function startPeerProxy(target: string): Promise<PeerProxy> {
  const url = new URL(target);
  const pairs = new Set<Pair>();
  /** Undefined: everything goes through. */
  let allowed: ReadonlySet<string> | undefined;
  const blocked = (from: string | null | undefined) =>
    allowed !== undefined && (from == null || !allowed.has(from));
  const drop = (p: Pair) => {
    p.client.destroy();
    p.upstream?.destroy();
    pairs.delete(p);
  };

  const server: Server = createServer((client) => {
    const pair: Pair = { client, upstream: undefined, from: undefined };
    pairs.add(pair);
    client.on('error', () => drop(pair));
    client.on('close', () => drop(pair));
    if (allowed?.size === 0) {
      drop(pair);
      return;
    }
    let head = Buffer.alloc(0);
    const onHead = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0 && head.length < MAX_HEADER_BYTES) return;
      client.off('data', onHead);
      const headers = head.subarray(0, end < 0 ? head.length : end).toString('latin1');
      pair.from = /^x-server-from:\s*([0-9a-f]+)\s*$/im.exec(headers)?.[1]?.toLowerCase() ?? null;
      if (blocked(pair.from)) {
        drop(pair);
        return;
      }
      const upstream = connect(Number(url.port), url.hostname);
      pair.upstream = upstream;
      upstream.on('error', () => drop(pair));
      upstream.on('close', () => drop(pair));
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on('data', onHead);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('peer proxy: no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    target,
    refuseAllBut(senders) {
      allowed = senders;
      for (const p of [...pairs]) if (blocked(p.from)) drop(p);
    },
    heal() {
      allowed = undefined;
    },
    close() {
      for (const p of [...pairs]) drop(p);
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
