/**
 * Milliseconds on the system-wide monotonic clock (CLOCK_MONOTONIC behind `process.hrtime`), so
 * timestamps taken in different processes on this machine compare directly: multi-process cases
 * compute handoffs and FIFO order from them.
 */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Resolves at `at` on the {@link now} clock (at once if it has passed). */
export function sleepUntil(at: number): Promise<void> {
  const ms = Math.max(0, at - now());
  return new Promise((resolve) => setTimeout(resolve, ms));
}
