import { type CallOptions, InterceptingCall, type Interceptor, type Metadata } from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { clientState, slotKey } from './client-state.js';
import { messageOf } from './message.js';

/** etcd's gRPC metadata key and value (rpctypes.MetadataRequireLeaderKey / MetadataHasLeader). */
const REQUIRE_LEADER_KEY = 'hasleader';
const REQUIRE_LEADER_VALUE = 'true';

/**
 * Which calls carry etcd's require-leader metadata: `'streams'` the watch and lease keep-alive
 * streams, `'all'` every unary call too, `false` none.
 */
export type RequireLeader = 'streams' | 'all' | false;

/**
 * A gRPC client interceptor that adds `hasleader: true` to a call's metadata. A member that has
 * lost its raft leader then refuses such a call at once with "etcdserver: no leader" (UNAVAILABLE,
 * which etcd3 counts as recoverable: the host is marked failed and the next attempt goes to
 * another member), and cancels such a stream after three election timeouts without a leader,
 * where it would otherwise keep a watch silent forever and keep-alives unanswered until etcd's
 * request timeout.
 */
const requireLeaderInterceptor: Interceptor = (options, nextCall) =>
  new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      next(withRequireLeader(metadata), listener);
    },
  });

/** A copy of `metadata` with `hasleader: true` (what the interceptor sends). */
export function withRequireLeader(metadata: Metadata): Metadata {
  // etcd3 passes one Metadata object (its cached auth token) to every call: never change it.
  const own = metadata.clone();
  own.set(REQUIRE_LEADER_KEY, REQUIRE_LEADER_VALUE);
  return own;
}

/**
 * What a call's interceptors amount to, for a call made below grpc-js's interceptor chain
 * (src/etcd/txn.ts): `false` none, `true` only the require-leader interceptor (the call then
 * sends {@link withRequireLeader}'s metadata itself), `undefined` any other interceptor (such a
 * call must go through the chain).
 */
export function requiresLeaderOnly(interceptors: readonly unknown[] | undefined): boolean | undefined {
  if (!interceptors || interceptors.length === 0) return false;
  return interceptors.length === 1 && interceptors[0] === requireLeaderInterceptor ? true : undefined;
}

/** The call options that make a call of the given kind require a leader, if `mode` says so. */
export function requireLeaderOptions(
  mode: RequireLeader,
  isStream: boolean,
): Pick<CallOptions, 'interceptors'> {
  if (mode === false || (mode === 'streams' && !isStream)) return {};
  return { interceptors: [requireLeaderInterceptor] };
}

const MODE = slotKey<RequireLeader>('require-leader mode');

/** Records the `requireLeader` setting createClient was given for `client`. */
export function setRequireLeader(client: Etcd3, mode: RequireLeader): void {
  clientState(client).set(MODE, mode);
}

/**
 * Call options for a watch or keep-alive stream the library opens on `client`: require a leader
 * unless createClient was told `requireLeader: false`. A plain `new Etcd3(...)` gets it too: the
 * library's own streams must not stay silent on a member cut off from the quorum.
 */
export function streamCallOptions(client: Etcd3): Pick<CallOptions, 'interceptors'> {
  return requireLeaderOptions(streamsRequireLeader(client) ? 'streams' : false, true);
}

/** Whether the library's streams on `client` carry the require-leader metadata. */
export function streamsRequireLeader(client: Etcd3): boolean {
  return (clientState(client).peek(MODE) ?? 'streams') !== false;
}

/** Whether an error (or a watch's cancel reason) is etcd's "no leader" refusal. */
export function isNoLeader(errorOrReason: unknown): boolean {
  const text = messageOf(errorOrReason);
  return /etcdserver: no leader/.test(text);
}
