import { GRPCUnavailableError, isRecoverableError } from 'etcd3';
import { BrokenCircuitError, type IDefaultPolicyContext, NoopPolicy } from 'cockatiel';
import { retrying } from '../diagnostics/publish.js';

/** How long a member that failed a call is passed over while another member is healthy. */
const SKIP_AFTER_FAILURE_MS = 2000;

/**
 * Which members of a multi-endpoint client failed recently. etcd3 sends each call to a random
 * endpoint and, without its circuit breaker, keeps choosing a dead member half the time (1 of 3
 * down: 15 of 30 calls failed). A breaker fixes that but, with one endpoint, refuses every call
 * for seconds after etcd is back. This passes a failed member over only while another member
 * has not failed recently, so a single endpoint is always tried.
 */
export class HostHealth {
  private readonly failedAt = new Map<string, number>();

  constructor(private readonly hosts: readonly string[]) {}

  /** The per-host policy etcd3 runs every call and stream opening through. */
  policyFor(host: string): NoopPolicy {
    return new HostPolicy(host, this);
  }

  /** A passed-over host: a recent failure and another host without one. */
  shouldSkip(host: string): boolean {
    if (!this.recentlyFailed(host)) return false;
    return this.hosts.some((h) => h !== host && !this.recentlyFailed(h));
  }

  failed(host: string): void {
    this.failedAt.set(host, Date.now());
  }

  succeeded(host: string): void {
    this.failedAt.delete(host);
  }

  private recentlyFailed(host: string): boolean {
    const at = this.failedAt.get(host);
    return at !== undefined && Date.now() - at < SKIP_AFTER_FAILURE_MS;
  }
}

class HostPolicy extends NoopPolicy {
  constructor(
    private readonly host: string,
    private readonly health: HostHealth,
  ) {
    super();
  }

  override async execute<T>(
    fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T,
    signal?: AbortSignal,
  ): Promise<T> {
    // etcd3 moves on to the next member when the policy refuses without calling through.
    if (this.health.shouldSkip(this.host)) throw new BrokenCircuitError();
    try {
      const result = await super.execute(fn, signal);
      this.health.succeeded(this.host);
      return result;
    } catch (err) {
      if (isRecoverableError(err as Error)) this.health.failed(this.host);
      throw err;
    }
  }
}

/**
 * The client-wide policy: tries another member, at once, when a call failed without ever being
 * sent (no connection to that member). Such a call cannot have executed, so even a write is safe
 * to send again; anything that may have reached etcd is left to the caller. With every member
 * tried (a single endpoint, say, whose connection is being re-established after a restart) it
 * tries again after a short pause, a few times: the call's deadline still bounds the whole.
 */
export class RetryUnsentPolicy extends NoopPolicy {
  constructor(private readonly hosts: number) {
    super();
  }

  override async execute<T>(
    fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T,
    signal?: AbortSignal,
  ): Promise<T> {
    const attempts = this.hosts + UNSENT_PAUSES_MS.length;
    for (let attempt = 1; ; attempt++) {
      try {
        return await super.execute(fn, signal);
      } catch (err) {
        if (attempt >= attempts || !neverSent(err) || signal?.aborted) throw err;
        retrying('unsent', err, attempt, 0);
        const pause = attempt >= this.hosts ? UNSENT_PAUSES_MS[attempt - this.hosts] : undefined;
        if (pause !== undefined) await sleep(pause, signal);
      }
    }
  }
}

/** Pauses before re-sending a call no member took, once every member was tried. */
const UNSENT_PAUSES_MS = [50, 150, 300];

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** grpc-js's words for a call that failed before it started. */
function neverSent(err: unknown): boolean {
  return (
    err instanceof GRPCUnavailableError &&
    /No connection established|Channel closed before call started|ECONNREFUSED/.test(err.message)
  );
}
