import { constants } from 'node:os';

/** The signals that ask a command to stop: Ctrl-C, `kill`, a closed terminal. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/**
 * Calls `handler` on each stop signal instead of Node's default (exit at once, skipping cleanup),
 * so that a command can release its lock or resign first. Returns the teardown.
 */
export function onStopSignal(handler: (signal: StopSignal) => void): () => void {
  const listeners = STOP_SIGNALS.map((signal) => {
    const listener = () => {
      handler(signal);
    };
    process.on(signal, listener);
    return () => process.off(signal, listener);
  });
  return () => {
    for (const off of listeners) off();
  };
}

/** An AbortSignal that aborts on the first stop signal; its reason names the signal. */
export function stopSignal(): {
  signal: AbortSignal;
  received: () => StopSignal | undefined;
  dispose: () => void;
} {
  const controller = new AbortController();
  let received: StopSignal | undefined;
  const dispose = onStopSignal((signal) => {
    received ??= signal;
    controller.abort(new Interrupted(signal));
  });
  return { signal: controller.signal, received: () => received, dispose };
}

/** The reason of a wait abandoned because the user stopped the command. */
export class Interrupted extends Error {
  constructor(readonly signal: StopSignal) {
    super(`interrupted by ${signal}`);
    this.name = 'Interrupted';
  }
}

/** The shell's exit status for a process ended by `signal`: 128 + its number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}
