import { afterEach } from 'vitest';
import {
  DIAGNOSTICS_CHANNELS,
  subscribeDiagnostics,
  type DiagnosticsEventName,
  type DiagnosticsEvents,
} from '../../src/index.js';
import { eventually } from '../support/clients.js';

/** One published message, with the event it came on. */
export type Recorded = {
  [E in DiagnosticsEventName]: { event: E; message: DiagnosticsEvents[E] };
}[DiagnosticsEventName];

/**
 * Records every message of every channel, in publication order, from now until the end of the
 * test (then unsubscribes). Filter by name or lease: other sessions of the file may publish too.
 */
export function useDiagnostics() {
  let stops: (() => void)[] = [];
  let log: Recorded[] = [];
  afterEach(() => {
    for (const stop of stops) stop();
    stops = [];
    log = [];
  });
  const recorder = {
    start(): void {
      for (const event of Object.keys(DIAGNOSTICS_CHANNELS) as DiagnosticsEventName[]) {
        stops.push(
          subscribeDiagnostics(event, (message) => {
            log.push({ event, message } as Recorded);
          }),
        );
      }
    },
    /** Every message of `event` that `match` accepts. */
    of<E extends DiagnosticsEventName>(
      event: E,
      match: (m: DiagnosticsEvents[E]) => boolean = () => true,
    ): DiagnosticsEvents[E][] {
      return log
        .filter((r) => r.event === event)
        .map((r) => r.message as DiagnosticsEvents[E])
        .filter(match);
    },
    /** The events (names) whose message `match` accepts, in order. */
    sequence(match: (m: Record<string, unknown>) => boolean): string[] {
      return log
        .filter((r) => match(r.message as unknown as Record<string, unknown>))
        .map((r) => ('phase' in r.message ? `${r.event}:${r.message.phase}` : r.event));
    },
    /** Resolves with the first message of `event` that `match` accepts, waiting for it if needed. */
    async next<E extends DiagnosticsEventName>(
      event: E,
      match: (m: DiagnosticsEvents[E]) => boolean = () => true,
      timeoutMs = 10_000,
    ): Promise<DiagnosticsEvents[E]> {
      await eventually(() => recorder.of(event, match).length > 0, timeoutMs, `a ${event} event`);
      return recorder.of(event, match)[0]!;
    },
    all(): Recorded[] {
      return [...log];
    },
  };
  return recorder;
}

/** JSON of any payload, bigints as strings: what a logger would print. */
export function serialize(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}
