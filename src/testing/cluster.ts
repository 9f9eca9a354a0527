/** A 1- or 3-member etcd run as child processes on free loopback ports in a fresh temp dir. */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import type { ClientOptions } from '../etcd/client.js';
import { authServerArgs, enableAuth } from './auth.js';
import { OwnedClients } from './clients.js';
import { findLeader } from './health.js';
import { ProcessMember } from './member.js';
import { freePorts } from './ports.js';
import { trackTmpDir } from './processes.js';
import { generateTlsFiles, tlsServerArgs } from './tls.js';
import type {
  AuthSetupOptions,
  EtcdAuth,
  EtcdCluster,
  EtcdMember,
  EtcdTlsFiles,
  StartEtcdOptions,
} from './types.js';

export const DEFAULT_START_TIMEOUT_MS = 15_000;

/** Fast-loopback raft timing: elections after ~0.5-1 s instead of the default 1-2 s. */
const TIMING_ARGS = ['--heartbeat-interval', '50', '--election-timeout', '500'];
const LOG_ARGS = ['--logger', 'zap', '--log-level', 'warn'];
/** Tries with new ports when another process took one between probing and binding. */
const MAX_PORT_ATTEMPTS = 3;

class ProcessCluster implements EtcdCluster {
  readonly endpoints: string[];
  auth?: EtcdAuth;
  readonly #clients = new OwnedClients(this);
  #stopping: Promise<void> | undefined;

  constructor(
    readonly members: ProcessMember[],
    private readonly tmpDir: string,
    readonly tls?: EtcdTlsFiles,
  ) {
    this.endpoints = members.map((m) => m.clientUrl);
  }

  client(options?: ClientOptions): Etcd3 {
    if (this.#stopping) throw new Error('this etcd was stopped: it hands out no more clients');
    return this.#clients.create(options);
  }

  leader(): Promise<EtcdMember> {
    return findLeader(this.members, this.tls);
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#clients.closeAll();
      await Promise.all(this.members.map((m) => m.dispose()));
      await rm(this.tmpDir, { recursive: true, force: true });
      trackTmpDir(this.tmpDir, false);
    })();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

function memberArgs(
  name: string,
  clientUrl: string,
  peerUrl: { listen: string; advertise: string },
  dataDir: string,
  cluster: { initialCluster: string; token: string },
): string[] {
  return [
    ...['--name', name, '--data-dir', dataDir],
    ...['--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl],
    ...['--listen-peer-urls', peerUrl.listen, '--initial-advertise-peer-urls', peerUrl.advertise],
    ...['--initial-cluster', cluster.initialCluster, '--initial-cluster-state', 'new'],
    ...['--initial-cluster-token', cluster.token],
    ...TIMING_ARGS,
    ...LOG_ARGS,
  ];
}

/** Starts the members of a new cluster with `bin` and waits until every one is healthy. */
export async function startProcessCluster(bin: string, opts: StartEtcdOptions): Promise<EtcdCluster> {
  const size = opts.members ?? 1;
  const startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'etcd-test-'));
  trackTmpDir(tmpDir);
  const authOptions: AuthSetupOptions | undefined =
    opts.auth === true ? {} : opts.auth === false ? undefined : opts.auth;
  let tls: EtcdTlsFiles | undefined;
  let authArgs: string[] = [];
  try {
    tls = opts.tls ? await generateTlsFiles(tmpDir) : undefined;
    if (authOptions) authArgs = await authServerArgs(authOptions, tmpDir);
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    trackTmpDir(tmpDir, false);
    throw err;
  }
  const clientScheme = tls ? 'https' : 'http';
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(size * 2);
    const token = `etcd-test-${randomUUID()}`;
    const names = Array.from({ length: size }, (_, i) => `m${i + 1}`);
    const peerUrls = names.map((_, i) => `http://127.0.0.1:${ports[2 * i + 1]}`);
    const advertise = opts.advertisePeerUrl ?? (({ peerUrl }: { peerUrl: string }) => peerUrl);
    const advertised = await Promise.all(
      names.map(async (name, i) => advertise({ name, peerUrl: peerUrls[i]! })),
    );
    const initialCluster = names.map((n, i) => `${n}=${advertised[i]}`).join(',');
    const members = names.map((name, i) => {
      const clientUrl = `${clientScheme}://127.0.0.1:${ports[2 * i]}`;
      const peerUrl = peerUrls[i]!;
      const dataDir = path.join(tmpDir, `${name}.etcd`);
      const args = [
        ...memberArgs(name, clientUrl, { listen: peerUrl, advertise: advertised[i]! }, dataDir, {
          initialCluster,
          token,
        }),
        ...(tls ? tlsServerArgs(tls) : []),
        ...authArgs,
        ...(opts.extraArgs ?? []),
      ];
      const logFile = path.join(tmpDir, `${name}.log`);
      const config = { bin, tmpDir, logFile, startTimeoutMs, args, clusterSize: size, tls };
      return new ProcessMember(name, clientUrl, peerUrl, dataDir, config);
    });
    const cluster = new ProcessCluster(members, tmpDir, tls);
    try {
      for (const m of members) m.spawnProcess();
      // all members must be spawned before any can become healthy (a 3-node cluster needs a quorum)
      const results = await Promise.allSettled(members.map((m) => m.waitHealthy()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      if (authOptions) cluster.auth = await enableAuth(cluster.endpoints, tls, authOptions);
      return cluster;
    } catch (err) {
      await Promise.all(members.map((m) => m.kill('SIGKILL')));
      const portRace = err instanceof Error && err.message.includes('address already in use');
      if (portRace && attempt < MAX_PORT_ATTEMPTS) {
        await Promise.all(members.map((m) => rm(m.dataDir, { recursive: true, force: true })));
        await Promise.all(names.map((n) => rm(path.join(tmpDir, `${n}.log`), { force: true })));
        continue;
      }
      await rm(tmpDir, { recursive: true, force: true });
      trackTmpDir(tmpDir, false);
      throw err;
    }
  }
}
