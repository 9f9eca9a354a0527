import type { CallOptions, Client, Metadata, ServiceError } from '@grpc/grpc-js';
import { type Etcd3, type ICallable, castGrpcError } from 'etcd3';
import { isNoLeader, requireLeaderOptions } from './require-leader.js';

/**
 * The member a stream was opened on, and a question for it: does it still have a raft leader?
 *
 * etcd3 sends each call and stream to a member of its choosing and does not say which. A stream
 * opened through {@link openOnMember} remembers it, so that when the stream goes quiet the
 * library can ask that same member — not a random one — whether it is cut off from the quorum.
 *
 * This reaches into etcd3's internals (1.1.2: the connection pool's `withConnection`, its hosts'
 * `faultHandling` policy and cached service clients), read defensively as ./auth.ts does: without
 * them the stream opens as before and no member is known.
 */
export interface StreamMember {
  /** The member's endpoint as etcd3 names it (`host:port`). */
  readonly host: string;
  /**
   * Asks the member for its status with the require-leader metadata: `'no-leader'` when it
   * refuses with "etcdserver: no leader" (or answers that it knows no leader), `'leader'` when it
   * answers normally, `'unknown'` when it does not answer within `timeoutMs` or fails otherwise.
   * Runs through etcd3's policy for that host, as every call to it does, so a "no leader" marks
   * the host failed and the client's next calls and streams go to another member if it has one.
   * Never rejects.
   */
  leaderStatus(timeoutMs: number): Promise<LeaderStatus>;
}

/** What a member said about its raft leader; see {@link StreamMember.leaderStatus}. */
export type LeaderStatus = 'leader' | 'no-leader' | 'unknown';

/** The parts of etcd3's `Host` this file uses. */
interface HostInternals {
  host: string;
  faultHandling: { execute<T>(fn: () => Promise<T>): Promise<T> };
  getServiceClient(name: 'Maintenance'): Client;
}

type StatusMethod = (
  req: object,
  metadata: Metadata,
  options: CallOptions,
  cb: (err: ServiceError | null, res?: { leader?: string }) => void,
) => void;

function poolOf(client: Etcd3): ICallable<unknown> | undefined {
  const pool = (client as unknown as { pool?: Partial<ICallable<unknown>> }).pool;
  return typeof pool?.withConnection === 'function' ? (pool as ICallable<unknown>) : undefined;
}

function isHost(resource: unknown): resource is HostInternals {
  const r = resource as Partial<HostInternals> | undefined;
  return (
    typeof r?.host === 'string' &&
    typeof r.getServiceClient === 'function' &&
    typeof r.faultHandling?.execute === 'function'
  );
}

/**
 * Opens a stream with `open`, given etcd3's connection pool (pass it to `new LeaseClient(pool)`
 * or `new WatchClient(pool)`), and returns it with the member etcd3 opened it on. Falls back to
 * `fallback` (the client's own stream method) when the pool cannot be reached; `member` is then
 * undefined.
 *
 * @example
 * ```ts
 * const { stream, member } = await openOnMember(
 *   client,
 *   (pool) => new LeaseClient(pool).leaseKeepAlive(options),
 *   () => client.leaseClient.leaseKeepAlive(options),
 * );
 * ```
 */
export async function openOnMember<S>(
  client: Etcd3,
  open: (pool: ICallable<unknown>) => Promise<S>,
  fallback: () => Promise<S>,
): Promise<{ stream: S; member: StreamMember | undefined }> {
  const pool = poolOf(client);
  if (!pool) return { stream: await fallback(), member: undefined };
  let chosen: { resource: unknown; metadata: Metadata } | undefined;
  // The pool itself, with withConnection noting the member it picks. etcd3 opens a stream inside
  // one withConnection call, so the last pick is the stream's member.
  const noting: ICallable<unknown> = Object.create(pool, {
    withConnection: {
      value: ((service, fn) =>
        pool.withConnection(service, (args) => {
          chosen = { resource: args.resource, metadata: args.metadata };
          return fn(args);
        })) satisfies ICallable<unknown>['withConnection'],
    },
  }) as ICallable<unknown>;
  const stream = await open(noting);
  const member = chosen && isHost(chosen.resource) ? hostMember(chosen.resource, chosen.metadata) : undefined;
  return { stream, member };
}

function hostMember(host: HostInternals, metadata: Metadata): StreamMember {
  return {
    host: host.host,
    async leaderStatus(timeoutMs) {
      try {
        const res = await host.faultHandling.execute(() => status(host, metadata, timeoutMs));
        return res.leader === '0' ? 'no-leader' : 'leader';
      } catch (err) {
        return isNoLeader(err) ? 'no-leader' : 'unknown';
      }
    },
  };
}

/** Maintenance.Status on `host` alone: answered by the member itself, no raft round, no disk. */
function status(host: HostInternals, metadata: Metadata, timeoutMs: number): Promise<{ leader?: string }> {
  const service = host.getServiceClient('Maintenance') as unknown as { status: StatusMethod };
  const options: CallOptions = {
    ...requireLeaderOptions('all', false),
    deadline: new Date(Date.now() + timeoutMs),
  };
  return new Promise((resolve, reject) => {
    service.status({}, metadata, options, (err, res) => {
      if (err) reject(castGrpcError(err));
      else resolve(res ?? {});
    });
  });
}
