/**
 * Pure statistics over what contenders recorded: percentiles, Jain's fairness index, FIFO
 * violations, exclusion violations and handoff latencies. All times are {@link now} milliseconds.
 */

/** One wait of one contender: from asking for the lock to giving it back. */
export interface Wait {
  /** Which contender (stable per contender across its waits). */
  who: string;
  /** When the contender asked (`lock()`, `acquire()`, `campaign()` called). */
  start: number;
  /** When the acquire resolved; undefined if the wait was abandoned at the end of the case. */
  acquired?: number;
  /** When the holder started to give it back (before the release call). */
  released?: number;
  /** The holder's place in the queue (its key's create revision), for primitives that have one. */
  ticket?: number;
  /** RWMutex: an exclusive (write) hold; the others are shared. */
  writer?: boolean;
}

export interface Quantiles {
  p50: number;
  p99: number;
}

/** Nearest-rank percentiles; undefined for no samples. */
export function quantiles(samples: readonly number[]): Quantiles | undefined {
  if (samples.length === 0) return undefined;
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99) };
}

/** Jain's fairness index (Σx)² / (n·Σx²): 1 when every contender got the same share, 1/n when one got all. */
export function jain(counts: readonly number[]): number | undefined {
  if (counts.length === 0) return undefined;
  let sum = 0;
  let squares = 0;
  for (const x of counts) {
    sum += x;
    squares += x * x;
  }
  return squares === 0 ? undefined : (sum * sum) / (counts.length * squares);
}

/** Acquisitions per contender, for {@link jain}; contenders that never acquired count as 0. */
export function acquisitionsPerContender(waits: readonly Wait[], contenders: readonly string[]): number[] {
  const counts = new Map<string, number>(contenders.map((c) => [c, 0]));
  for (const w of waits) if (w.acquired !== undefined) counts.set(w.who, (counts.get(w.who) ?? 0) + 1);
  return [...counts.values()];
}

/**
 * Acquisitions that overtook a contender that had started waiting earlier and was still waiting.
 *
 * "Earlier" is the queue's own order where the primitive has one (every acquisition carries a
 * `ticket`, its key's create revision: etcd's order of the enqueue requests). Requests in flight
 * together have no order (etcd applies concurrent requests in either order), so the time a
 * contender called lock() cannot rank two calls made within a round trip of each other; the
 * revision can. Otherwise (etcd3's Lock: retries, no queue) it is the time the wait started,
 * including waits abandoned at the end, and leaving out each contender's first wait: all of them
 * start at the same instant when a case begins.
 *
 * Sweep in that order keeping the latest acquisition time seen so far: if an earlier contender
 * acquired later, this one overtook it.
 */
export function fifoViolations(waits: readonly Wait[]): {
  violations: number;
  by: 'revision' | 'start time';
} {
  const acquired = waits.filter((w) => w.acquired !== undefined);
  if (acquired.length > 0 && acquired.every((w) => w.ticket !== undefined)) {
    return { violations: overtakes(acquired, (w) => w.ticket!), by: 'revision' };
  }
  const seen = new Set<string>();
  const steady = waits.filter((w) => {
    if (seen.has(w.who)) return true;
    seen.add(w.who);
    return false;
  });
  return { violations: overtakes(steady, (w) => w.start), by: 'start time' };
}

function overtakes(waits: readonly Wait[], order: (w: Wait) => number): number {
  const sorted = [...waits].sort((a, b) => order(a) - order(b));
  let latestEarlier = -Infinity;
  let violations = 0;
  for (const w of sorted) {
    const acquired = w.acquired ?? Infinity;
    if (w.acquired !== undefined && latestEarlier > acquired) violations++;
    if (acquired > latestEarlier) latestEarlier = acquired;
  }
  return violations;
}

/**
 * Moments when more than `capacity` contenders held at once (a mutex: 1). Hold intervals are
 * [acquired, released]; the releaser stamps `released` before its release call, so a correct
 * primitive never overlaps them.
 */
export function exclusionViolations(waits: readonly Wait[], capacity: number): number {
  const edges: [number, number][] = [];
  for (const w of waits) {
    if (w.acquired === undefined || w.released === undefined) continue;
    edges.push([w.acquired, 1], [w.released, -1]);
  }
  // At equal times count the release first: a handoff stamped within one clock tick is not an overlap.
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let holders = 0;
  let violations = 0;
  for (const [, delta] of edges) {
    holders += delta;
    if (holders > capacity) violations++;
  }
  return violations;
}

/**
 * RWMutex: moments when a writer held together with anyone else. Readers may overlap each other;
 * a write hold [acquired, released] must overlap no other hold.
 */
export function rwExclusionViolations(waits: readonly Wait[]): number {
  const edges: [number, number, boolean][] = [];
  for (const w of waits) {
    if (w.acquired === undefined || w.released === undefined) continue;
    edges.push([w.acquired, 1, w.writer === true], [w.released, -1, w.writer === true]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let readers = 0;
  let writers = 0;
  let violations = 0;
  for (const [, delta, writer] of edges) {
    if (writer) writers += delta;
    else readers += delta;
    if (delta > 0 && (writers > 1 || (writers === 1 && readers > 0))) violations++;
  }
  return violations;
}

/**
 * Handoff latencies: for each acquisition, the time since the latest release that began before it,
 * if the acquirer was already waiting then (otherwise nothing was handed off: the lock was free).
 * Each release is handed to at most one acquirer.
 */
export function handoffs(waits: readonly Wait[]): number[] {
  const acquisitions = waits
    .filter((w): w is Wait & { acquired: number } => w.acquired !== undefined)
    .sort((a, b) => a.acquired - b.acquired);
  const releases = waits
    .map((w) => w.released)
    .filter((r): r is number => r !== undefined)
    .sort((a, b) => a - b);
  const out: number[] = [];
  let next = 0;
  let lastUsed = -1;
  for (const a of acquisitions) {
    while (next < releases.length && releases[next]! < a.acquired) next++;
    const at = next - 1;
    if (at < 0 || at === lastUsed) continue;
    const released = releases[at]!;
    if (a.start >= released) continue;
    lastUsed = at;
    out.push(a.acquired - released);
  }
  return out;
}

/** Time from asking to acquiring, for every acquisition. */
export function waitTimes(waits: readonly Wait[]): number[] {
  const out: number[] = [];
  for (const w of waits) if (w.acquired !== undefined) out.push(w.acquired - w.start);
  return out;
}
