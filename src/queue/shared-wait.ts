/**
 * One wait shared by several callers, each waiting under its own signal: a session has one key
 * per Mutex or Election name, so a second `lock()`/`campaign()` of the session joins the wait of
 * the first instead of racing it for the same key.
 *
 * - A caller's abort rejects only that caller (with its signal's reason); the shared wait is
 *   withdrawn when the last caller that can abort has left. A caller without a signal keeps it
 *   going (it asked to wait for as long as it takes).
 * - {@link withdraw} ends it for everyone (`unlock()`, `resign()`).
 * - A result that arrives after the wait was withdrawn (the hold was won in the same instant) has
 *   nobody to go to: `dispose` gives it back, so no hold is left that nobody releases.
 */
export class SharedWait<T> {
  /** Settles with the wait's outcome; rejects with the withdrawal's reason once withdrawn. */
  readonly promise: Promise<T>;
  private readonly withdrawal = new AbortController();
  private callers = 0;
  /** Resolves once the wait has settled and a late result was given back: its cleanup is over. */
  private readonly cleanedUp: Promise<unknown>;

  constructor(start: (signal: AbortSignal) => Promise<T>, dispose: (late: T) => unknown) {
    this.promise = start(this.withdrawal.signal);
    this.cleanedUp = this.promise.then(
      (value) => (this.withdrawal.signal.aborted ? dispose(value) : undefined),
      () => undefined, // every caller hears of it through join()
    );
  }

  /** True once withdrawn: a new caller must not join it. */
  get withdrawn(): boolean {
    return this.withdrawal.signal.aborted;
  }

  /** The shared outcome, unless `signal` aborts first (then its reason, for this caller only). */
  join(signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (!signal) {
      this.callers = Number.POSITIVE_INFINITY;
      return this.promise;
    }
    this.callers++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (--this.callers > 0) {
          reject(signal.reason as Error);
          return;
        }
        // The last caller: it leaves only once the wait's key is gone ("no key behind").
        this.withdraw(signal.reason);
        void this.cleanedUp.then(() => {
          reject(signal.reason as Error);
        });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          if (!signal.aborted) resolve(value);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          if (!signal.aborted) reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /** Ends the wait for every caller; the wait's own cleanup (deleting its key) runs as on abort. */
  withdraw(reason: unknown): void {
    this.withdrawal.abort(reason);
  }
}
