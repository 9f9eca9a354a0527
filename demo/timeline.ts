import { styleText } from 'node:util';

/** Reports of different processes arrive on different pipes; this long a wait puts them in order. */
const REORDER_MS = 80;

/**
 * Prints timestamped events in time order, a moment after they happened, so that lines from
 * several worker processes interleave as the events did (all share this machine's clock).
 */
export class Timeline<E extends { t: number }> {
  private pending: E[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly start: number,
    private readonly render: (event: E, at: string) => string | undefined,
  ) {
    this.timer = setInterval(() => {
      this.drain(Date.now() - REORDER_MS);
    }, 20);
  }

  push(event: E): void {
    this.pending.push(event);
  }

  /** Prints everything still pending and stops. */
  close(): void {
    clearInterval(this.timer);
    this.drain(Infinity);
  }

  private drain(upTo: number): void {
    const due = this.pending.filter((e) => e.t <= upTo).sort((a, b) => a.t - b.t);
    if (due.length === 0) return;
    this.pending = this.pending.filter((e) => e.t > upTo);
    for (const event of due) {
      const text = this.render(event, elapsed(event.t - this.start));
      if (text !== undefined) console.log(text);
    }
  }
}

/** `+1.23s` */
export function elapsed(ms: number): string {
  return `+${(Math.max(0, ms) / 1000).toFixed(2)}s`;
}

const color = process.stdout.isTTY && !process.env.NO_COLOR;

export function bold(text: string): string {
  return color ? styleText('bold', text) : text;
}

export function dim(text: string): string {
  return color ? styleText('dim', text) : text;
}

export function good(text: string): string {
  return color ? styleText('green', text) : text;
}

export function bad(text: string): string {
  return color ? styleText('red', text) : text;
}
