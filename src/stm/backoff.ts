/** First retry waits up to this long; each further one doubles the ceiling, up to the cap. */
const BASE_MS = 5;
const CAP_MS = 250;

/**
 * The pause before attempt `attempt + 1`: "full jitter" (uniform in [0, ceiling)), so writers
 * that conflicted with each other spread out instead of colliding again in lockstep.
 */
export function backoffDelay(attempt: number): number {
  const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** Math.min(attempt - 1, 16));
  return Math.random() * ceiling;
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
