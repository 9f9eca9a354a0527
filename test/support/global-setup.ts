/**
 * vitest globalSetup: provides `etcdEndpoints` to every test file (read them with `sharedEtcdEndpoints()`).
 *
 * - `ETCD_ENDPOINTS=host:port[,host:port...]` set: uses that etcd (after checking each endpoint's /health).
 * - otherwise: starts one private single-node etcd for the whole run and stops it in teardown.
 */
import type { TestProject } from 'vitest/node';
import path from 'node:path';
import { ensureEtcdctl, parseEndpoints, startEtcd, waitForHealthy } from './etcd.js';

declare module 'vitest' {
  export interface ProvidedContext {
    etcdEndpoints: string[];
  }
}

const HEALTH_TIMEOUT_MS = 15_000;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The interop tests run etcdctl by name and never skip: install it (as etcd is) before any test.
  const etcdctl = await ensureEtcdctl();
  const dir = path.dirname(etcdctl);
  if (!(process.env.PATH ?? '').split(path.delimiter).includes(dir)) {
    process.env.PATH = [dir, process.env.PATH].filter(Boolean).join(path.delimiter);
  }
  const fromEnv = process.env.ETCD_ENDPOINTS?.trim();
  if (fromEnv) {
    const endpoints = parseEndpoints(fromEnv);
    if (endpoints.length === 0) throw new Error(`ETCD_ENDPOINTS=${JSON.stringify(fromEnv)} has no endpoints`);
    await Promise.all(
      endpoints.map(async (endpoint) => {
        try {
          await waitForHealthy(endpoint, HEALTH_TIMEOUT_MS);
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          throw new Error(`ETCD_ENDPOINTS: ${endpoint} is not a healthy etcd (${why})`, { cause: err });
        }
      }),
    );
    project.provide('etcdEndpoints', endpoints);
    return () => Promise.resolve();
  }

  const cluster = await startEtcd({ members: 1 });
  project.provide('etcdEndpoints', cluster.endpoints);
  return () => cluster.stop();
}
