import type { Etcd3 } from 'etcd3';
import { createClient, type ClientOptions } from '../etcd/client.js';
import type { EtcdAuth, EtcdTlsFiles } from './types.js';

/** The clients a cluster handed out, closed when it stops. */
export class OwnedClients {
  readonly #clients = new Set<Etcd3>();

  constructor(private readonly cluster: { endpoints: string[]; tls?: EtcdTlsFiles; auth?: EtcdAuth }) {}

  /** A `createClient` on the cluster's endpoints, TLS files and root user; `options` win. */
  create(options: ClientOptions = {}): Etcd3 {
    const { endpoints, tls, auth } = this.cluster;
    const client = createClient({
      endpoints,
      ...(tls ? { tls: { ca: tls.ca, cert: tls.cert, key: tls.key } } : {}),
      ...(auth ? { auth: auth.root } : {}),
      ...options,
    });
    this.#clients.add(client);
    return client;
  }

  closeAll(): void {
    for (const client of this.#clients) client.close();
    this.#clients.clear();
  }
}
