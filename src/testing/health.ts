/**
 * Is a member up, and who leads: etcd's `/health`, its maintenance status, and the leader all
 * running members agree on.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { rawClient } from './raw-client.js';
import type { EtcdTlsFiles } from './types.js';

const DEFAULT_HEALTH_TIMEOUT_MS = 15_000;
const LEADER_TIMEOUT_MS = 15_000;

/** `a:1,http://b:2` -> `['http://a:1', 'http://b:2']` */
export function parseEndpoints(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `http://${s}`).replace(/\/+$/, ''));
}

/** A GET (or POST with `body`) returning status and parsed JSON; over https with the client certificate. */
export function requestJson(
  url: string,
  options: { tls?: EtcdTlsFiles | undefined; body?: string; timeoutMs?: number } = {},
): Promise<{ status: number; json: unknown }> {
  const { tls, body, timeoutMs = 1000 } = options;
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        timeout: timeoutMs,
        agent: false,
        ...(secure && tls
          ? { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) });
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function isHealthy(clientUrl: string, timeoutMs = 1000, tls?: EtcdTlsFiles): Promise<boolean> {
  try {
    const { status, json } = await requestJson(`${clientUrl}/health`, { tls, timeoutMs });
    const health = (json as { health?: unknown } | null)?.health;
    return status === 200 && (health === 'true' || health === true);
  } catch {
    return false;
  }
}

/**
 * Polls `GET <clientUrl>/health` until it reports `{"health":"true"}`; throws after `timeoutMs`,
 * or at once with the reason `abortIf` returns. `tls`: the client certificate for an https
 * endpoint that requires one.
 */
export async function waitForHealthy(
  clientUrl: string,
  timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS,
  abortIf?: () => string | undefined,
  tls?: EtcdTlsFiles,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = abortIf?.();
    if (why !== undefined) throw new Error(why);
    if (await isHealthy(clientUrl, 1000, tls)) return;
    if (Date.now() >= deadline) {
      throw new Error(`etcd at ${clientUrl} did not report healthy within ${timeoutMs} ms`);
    }
    await sleep(50);
  }
}

interface StatusResponse {
  header?: { member_id?: string };
  leader?: string;
}

/**
 * A member's id and the leader it follows, over gRPC: with auth enabled etcd 3.4's HTTP gateway
 * refuses requests that present a client certificate ("CommonName of client sending a request
 * against gateway will be ignored"), and Status needs no token.
 */
export async function grpcMemberStatus(
  clientUrl: string,
  tls: EtcdTlsFiles,
  timeoutMs = 1000,
): Promise<{ id: string; leader: string } | undefined> {
  const client = rawClient(clientUrl, tls);
  try {
    const res = await client.maintenance.status({ deadline: new Date(Date.now() + timeoutMs) });
    return { id: res.header.member_id, leader: res.leader };
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

async function memberStatus(
  clientUrl: string,
  tls?: EtcdTlsFiles,
): Promise<{ id: string; leader: string } | undefined> {
  if (tls) return grpcMemberStatus(clientUrl, tls);
  try {
    const { status, json } = await requestJson(`${clientUrl}/v3/maintenance/status`, { body: '{}' });
    const body = json as StatusResponse;
    const id = body.header?.member_id;
    if (status !== 200 || id === undefined) return undefined;
    return { id, leader: body.leader ?? '0' };
  } catch {
    return undefined;
  }
}

/** The member all running members agree leads, polling for up to 15 s. */
export async function findLeader<M extends { running: boolean; clientUrl: string; name: string }>(
  members: M[],
  tls?: EtcdTlsFiles,
): Promise<M> {
  const deadline = Date.now() + LEADER_TIMEOUT_MS;
  for (;;) {
    const running = members.filter((m) => m.running);
    const statuses = await Promise.all(running.map((m) => memberStatus(m.clientUrl, tls)));
    const byId = new Map<string, M>();
    const leaders = new Set<string>();
    running.forEach((m, i) => {
      const s = statuses[i];
      if (s) {
        byId.set(s.id, m);
        leaders.add(s.leader);
      }
    });
    if (leaders.size === 1) {
      const [leaderId] = [...leaders];
      const leader = leaderId !== undefined ? byId.get(leaderId) : undefined;
      if (leader) return leader;
    }
    if (Date.now() >= deadline) {
      const last = running.map((m, i) => `${m.name}: ${JSON.stringify(statuses[i] ?? 'unreachable')}`);
      throw new Error(
        `no agreed-on, running etcd leader within ${LEADER_TIMEOUT_MS} ms (${last.join(', ') || 'no members'})`,
      );
    }
    await sleep(50);
  }
}

/** etcd's own version string from `GET /version` (undefined if it does not answer in 2 s). */
export async function serverVersion(endpoint: string, tls?: EtcdTlsFiles): Promise<string | undefined> {
  try {
    const { json } = await requestJson(`${endpoint}/version`, { tls, timeoutMs: 2000 });
    return (json as { etcdserver?: string } | null)?.etcdserver;
  } catch {
    return undefined;
  }
}
