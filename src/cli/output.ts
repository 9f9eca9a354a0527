import { EtcdConcurrencyError } from '../errors.js';

/** Where a command's own messages go: human lines, or one JSON object per line with `--json`. */
export interface Output {
  readonly json: boolean;
  /** A result or event on stdout: `human` for people, `data` (with `event`) for `--json`. */
  event(event: string, human: string, data?: Record<string, unknown>): void;
  /**
   * A status note on stderr (waiting, lost …), the same shape as {@link event}; a note without
   * `human` text is for `--json` readers only.
   */
  note(event: string, human: string | undefined, data?: Record<string, unknown>): void;
}

/** The program name every message starts with, as Unix tools do. */
export const PROGRAM = 'etcd-concurrency';

export function createOutput(json: boolean): Output {
  const write = (stream: NodeJS.WriteStream, event: string, human: string | undefined, data = {}) => {
    if (!json && human === undefined) return;
    stream.write(
      json ? `${toJson({ time: new Date().toISOString(), event, ...data })}\n` : `${human ?? ''}\n`,
    );
  };
  return {
    json,
    event: (event, human, data) => {
      write(process.stdout, event, human, data);
    },
    note: (event, human, data) => {
      write(process.stderr, event, human, data);
    },
  };
}

/** JSON with bigints (revisions, fencing tokens) as decimal strings, as etcd's own JSON does. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** `12:03:04.567`: local wall-clock time for human lines, precise enough to read a failover off. */
export function clock(date = new Date()): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/**
 * One line for a failed command. The library's errors already say what happened and what to do
 * and never carry secrets; anything else is unexpected, so its name is kept for the bug report.
 */
export function describeError(err: unknown): string {
  if (err instanceof EtcdConcurrencyError) return err.message;
  if (err instanceof Error) {
    const name = err.name === 'Error' ? '' : `${err.name}: `;
    return `${name}${err.message}`.split('\n')[0] ?? err.name;
  }
  return String(err);
}

/** Prints a failure as one line on stderr (a JSON object with `--json`). */
export function printError(err: unknown, json: boolean): void {
  const message = describeError(err);
  if (json) {
    const name = err instanceof Error ? err.name : 'Error';
    process.stderr.write(`${toJson({ time: new Date().toISOString(), event: 'error', name, message })}\n`);
  } else {
    process.stderr.write(`${PROGRAM}: ${message}\n`);
  }
}
