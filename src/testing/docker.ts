/**
 * The fallback when there is no `etcd` binary: a single node in Docker through testcontainers,
 * an optional dependency loaded only here, only then.
 */
import type { Etcd3 } from 'etcd3';
import type { ClientOptions } from '../etcd/client.js';
import { OwnedClients } from './clients.js';
import { findLeader, waitForHealthy } from './health.js';
import type { EtcdCluster, EtcdMember } from './types.js';

export const DOCKER_IMAGE = 'quay.io/coreos/etcd:v3.5.21';

interface StartedContainer {
  getHost(): string;
  getMappedPort(port: number): number;
  stop(): Promise<unknown>;
}

/** What this module uses of testcontainers, typed here so that its types are not needed to build. */
interface Testcontainers {
  getContainerRuntimeClient(): Promise<unknown>;
  GenericContainer: new (image: string) => {
    withCommand(command: string[]): {
      withExposedPorts(...ports: number[]): { start(): Promise<StartedContainer> };
    };
  };
}

/** Undefined when testcontainers is not installed or no container runtime answers. */
export async function startDockerEtcd(startTimeoutMs: number): Promise<EtcdCluster | undefined> {
  let tc: Testcontainers;
  try {
    // A variable specifier: bundlers and type checks must not require the optional dependency.
    const name = 'testcontainers';
    tc = (await import(name)) as Testcontainers;
    await tc.getContainerRuntimeClient();
  } catch {
    return undefined;
  }
  process.stderr.write(`[etcd harness] no etcd binary; starting ${DOCKER_IMAGE} with testcontainers\n`);
  const container = await new tc.GenericContainer(DOCKER_IMAGE)
    .withCommand([
      'etcd',
      '--listen-client-urls',
      'http://0.0.0.0:2379',
      '--advertise-client-urls',
      'http://0.0.0.0:2379',
    ])
    .withExposedPorts(2379)
    .start();
  const clientUrl = `http://${container.getHost()}:${container.getMappedPort(2379)}`;
  let running = true;
  const unsupported = (what: string) =>
    new Error(`${what} is not supported for etcd running in Docker; install etcd-server for fault tests`);
  const member: EtcdMember = {
    name: 'docker',
    clientUrl,
    peerUrl: '',
    dataDir: '',
    pid: undefined,
    get running() {
      return running;
    },
    kill: () => Promise.reject(unsupported('kill()')),
    start: () => Promise.reject(unsupported('start()')),
    wipe: () => Promise.reject(unsupported('wipe()')),
    pause: () => {
      throw unsupported('pause()');
    },
    resume: () => {
      throw unsupported('resume()');
    },
  };
  const endpoints = [clientUrl];
  const clients = new OwnedClients({ endpoints });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      running = false;
      clients.closeAll();
      await container.stop();
    })();
    return stopping;
  };
  try {
    await waitForHealthy(clientUrl, startTimeoutMs);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    endpoints,
    members: [member],
    client: (options?: ClientOptions): Etcd3 => clients.create(options),
    leader: () => findLeader([member]),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
