/**
 * `promise`, unless one of the signals aborts first: then it rejects with that signal's reason
 * (so `AbortSignal.timeout(ms)` gives a TimeoutError). The promise itself keeps running; see
 * {@link untilAbortedOrUndo} for work whose late result must be undone.
 */
export function untilAborted<T>(promise: Promise<T>, ...signals: (AbortSignal | undefined)[]): Promise<T> {
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  if (live.length === 0) return promise;
  const already = live.find((s) => s.aborted);
  if (already) return Promise.reject(already.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = function (this: AbortSignal) {
      done();
      reject(this.reason as Error);
    };
    const done = () => {
      for (const s of live) s.removeEventListener('abort', onAbort);
    };
    for (const s of live) s.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        done();
        resolve(v);
      },
      (err: unknown) => {
        done();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/**
 * Like {@link untilAborted} for one signal; when the abort wins, `undo` runs on the late result,
 * so that nothing the cancelled call created (a lease, a key) outlives it.
 */
export async function untilAbortedOrUndo<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  undo: (late: T) => unknown,
): Promise<T> {
  try {
    return await untilAborted(promise, signal);
  } catch (err) {
    if (signal?.aborted) promise.then(undo, () => undefined);
    throw err;
  }
}
