import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { debuglog } from 'node:util';
import { DIAGNOSTICS_CHANNELS, type DiagnosticsEventName, type DiagnosticsEvents } from './events.js';

/**
 * The publishing side of the diagnostics events: every function here returns at once, building
 * nothing, unless the event's channel has a subscriber or `NODE_DEBUG=etcd-concurrency` is set.
 * The library's call sites only ever call into this file (see ./trace.ts for the queue and holds).
 */

const debug = debuglog('etcd-concurrency');
// NODE_DEBUG is read once at process start; reading `enabled` once keeps the check a boolean.
const debugEnabled = debug.enabled;

const channels = {
  wait: channel(DIAGNOSTICS_CHANNELS.wait),
  acquire: channel(DIAGNOSTICS_CHANNELS.acquire),
  release: channel(DIAGNOSTICS_CHANNELS.release),
  lost: channel(DIAGNOSTICS_CHANNELS.lost),
  renew: channel(DIAGNOSTICS_CHANNELS.renew),
  suspend: channel(DIAGNOSTICS_CHANNELS.suspend),
  reconnect: channel(DIAGNOSTICS_CHANNELS.reconnect),
  retry: channel(DIAGNOSTICS_CHANNELS.retry),
} as const;

/** Whether anyone would see `event`: check before building its payload. */
export function listening(event: DiagnosticsEventName): boolean {
  return debugEnabled || channels[event].hasSubscribers;
}

/** Publishes `message` on its channel and to NODE_DEBUG. Call only after {@link listening}. */
export function emit<E extends DiagnosticsEventName>(event: E, message: DiagnosticsEvents[E]): void {
  if (debugEnabled) debug('%s', formatLine(event, message as unknown as Record<string, unknown>));
  const ch = channels[event];
  if (ch.hasSubscribers) ch.publish(message);
}

/** One line, `event field=value …`: strings quoted (JSON), revisions in decimal, times to 0.1 ms. */
export function formatLine(event: string, message: Record<string, unknown>): string {
  let line = event;
  for (const [field, value] of Object.entries(message)) {
    if (value === undefined) continue;
    line += ` ${field}=${formatValue(value)}`;
  }
  return line;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(1);
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value) ?? String(value);
}

/** The name of an error for a payload: never its message, which is not ours to vouch for. */
export function errorName(err: unknown): string {
  if (!(err instanceof Error)) return typeof err;
  // etcd3's errors keep the name "Error"; their class says what happened (GRPCUnavailableError).
  if (err.name === 'Error' && err.constructor.name !== '') return err.constructor.name;
  return err.name;
}

// ---------------------------------------------------------------------------------------------
// sessions

/** The renewal of `leaseId` sent at `sentAt` (performance.now(), if known) was answered now. */
export function sessionRenewed(
  leaseId: string,
  ttl: number,
  revision: bigint,
  sentAt: number | undefined,
): void {
  if (!listening('renew')) return;
  const durationMs = sentAt === undefined ? undefined : performance.now() - sentAt;
  emit('renew', { primitive: 'session', leaseId, ttl, revision, durationMs });
}

/** The session of `leaseId` went from alive to suspended for `cause`; `err` broke its stream, if one did. */
export function sessionSuspended(
  leaseId: string,
  ttl: number,
  cause: DiagnosticsEvents['suspend']['cause'],
  err: unknown,
): void {
  if (!listening('suspend')) return;
  emit('suspend', {
    primitive: 'session',
    leaseId,
    ttl,
    cause,
    error: err === undefined ? undefined : errorName(err),
  });
}

/** Why a session ended, by its end reason: how a hold on it tells what took it. */
const sessionCauses = new WeakMap<object, 'session-expired' | 'revoked'>();

/**
 * The session of `leaseId` ends with `reason`. Call before the session's signal aborts, so that
 * its holds (which hear the abort) know the cause.
 */
export function sessionEnded(
  leaseId: string,
  ttl: number,
  final: 'lost' | 'closed',
  reason: Error,
  cause: 'session-expired' | 'revoked' | undefined,
): void {
  if (final !== 'lost') return;
  const why = cause ?? 'session-expired';
  sessionCauses.set(reason, why);
  if (!listening('lost')) return;
  emit('lost', { primitive: 'session', leaseId, ttl, cause: why, error: reason.name });
}

/** The cause recorded for a session end reason, if it is one. */
export function sessionCause(reason: unknown): 'session-expired' | 'revoked' | undefined {
  return typeof reason === 'object' && reason !== null ? sessionCauses.get(reason) : undefined;
}

// ---------------------------------------------------------------------------------------------
// streams

const brokenSince = new WeakMap<object, { at: number; error: string }>();

/** The stream of `hub` broke with `err` (it is about to be reopened). */
export function streamBroken(hub: object, err: unknown): void {
  const known = brokenSince.get(hub);
  if (known) known.error = errorName(err);
  else brokenSince.set(hub, { at: performance.now(), error: errorName(err) });
}

/** The stream of `hub` delivered its first message after {@link streamBroken} `attempts` times. */
export function streamRestored(hub: object, stream: 'watch' | 'keep-alive', attempts: number): void {
  const broken = brokenSince.get(hub);
  brokenSince.delete(hub);
  if (!broken || !listening('reconnect')) return;
  emit('reconnect', { stream, attempts, durationMs: performance.now() - broken.at, error: broken.error });
}

// ---------------------------------------------------------------------------------------------
// retries

/** Attempt `attempt` of `operation` failed with `err`, and it is tried again (in `delayMs`). */
export function retrying(
  operation: DiagnosticsEvents['retry']['operation'],
  err: unknown,
  attempt: number,
  delayMs?: number,
): void {
  if (!listening('retry')) return;
  emit('retry', { operation, attempt, delayMs, error: errorName(err) });
}

/**
 * For p-retry's `shouldRetry`: returns `decision`, publishing a retry event when it is true.
 * `offset` counts attempts made before p-retry's first (a bare first try).
 */
export function retryIf(
  decision: boolean,
  operation: DiagnosticsEvents['retry']['operation'],
  context: { error: unknown; attemptNumber: number; retryDelay: number },
  offset = 0,
): boolean {
  if (decision) retrying(operation, context.error, context.attemptNumber + offset, context.retryDelay);
  return decision;
}
