import { setTimeout as sleep } from 'node:timers/promises';

/**
 * `promise`, unless `signal` aborts first (Ctrl-C) or `ms` pass: then a rejection that says what
 * was being waited for, so that no step of the demo can hang.
 */
export function within<T>(promise: Promise<T>, ms: number, what: string, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`timed out after ${ms / 1000} s waiting for ${what}`));
    }, ms);
    const onAbort = () => {
      finish();
      reject(signal.reason as Error);
    };
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        finish();
        resolve(value);
      },
      (err: unknown) => {
        finish();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** A sleep that Ctrl-C cuts short (rejecting). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal });
}
