import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  RenewalLedger,
  RenewalTracker,
  renewalTiming,
  type RenewalSend,
  type RenewalState,
} from '../../src/session/renewals.js';

/**
 * A simulated keep-alive: the real ledger and trackers, a stream that opens, breaks, stalls and
 * answers with random delays (optionally out of order), an event loop that can be blocked, and
 * etcd revoking the lease. Time is virtual milliseconds.
 */
type PhaseKind = 'ok' | 'slow' | 'frozen' | 'down' | 'opening';
interface Phase {
  kind: PhaseKind;
  ms: number;
  /** Reply delay in this phase (`slow` adds seconds). */
  delay: number;
  /** Replies take independent random delays, so they may arrive out of order. */
  reorder: boolean;
  /** On a break, replies already on the wire from the old stream still show up afterwards. */
  lateData: boolean;
  /** Entering this phase, every reply still due on the stream arrives within `delay`, in order. */
  flush?: boolean;
}
interface Scenario {
  ttlSeconds: number;
  marginMs: number;
  sessions: number;
  phases: Phase[];
  /** etcd revokes the lease at this time (renewals processed later answer TTL 0). */
  revokeAt: number | undefined;
  blocks: { at: number; ms: number }[];
  seed: number;
}

interface InFlight {
  gen: number;
  sentAt: number;
  arriveAt: number;
}

interface Run {
  timing: ReturnType<typeof renewalTiming>;
  /** Per session: every state after every event, with its time. */
  history: { t: number; state: RenewalState }[][];
  /** Sends (writes to the stream) with their times. */
  writes: number[];
  violations: string[];
  /** When the last phase begins. */
  lastPhaseAt: number;
  end: number;
}

const LEASE = '7587862612937475091';

/** Read through a call, so TypeScript does not keep a narrowing across the tracker's methods. */
function isLost(tracker: RenewalTracker): boolean {
  return tracker.state === 'lost';
}

function simulate(sc: Scenario): Run {
  const timing = renewalTiming(sc.ttlSeconds, sc.marginMs);
  const ledger = new RenewalLedger();
  const trackers = Array.from(
    { length: sc.sessions },
    () => new RenewalTracker(timing, timing.ttlMs - sc.marginMs, 0),
  );
  const history = trackers.map(() => [] as { t: number; state: RenewalState }[]);
  const violations: string[] = [];
  const writes: number[] = [];
  let rnd = sc.seed >>> 0 || 1;
  const random = () => {
    rnd ^= rnd << 13;
    rnd ^= rnd >>> 17;
    rnd ^= rnd << 5;
    return (rnd >>> 0) / 2 ** 32;
  };

  // The phase plan as absolute boundaries.
  const bounds: { at: number; phase: Phase }[] = [];
  let at = 0;
  for (const phase of sc.phases) {
    bounds.push({ at, phase });
    at += phase.ms;
  }
  const end = at;
  const lastPhaseAt = bounds.at(-1)?.at ?? 0;
  let phaseIndex = 0;
  let phase = sc.phases[0]!;
  let status: 'up' | 'down' | 'opening' =
    phase.kind === 'down' ? 'down' : phase.kind === 'opening' ? 'opening' : 'up';
  const queued = new Map<string, number>();
  let inFlight: InFlight[] = [];
  // The latest send time of a renewal etcd truly acknowledged (its reply read on its own stream).
  let ackedSentAt = Number.NEGATIVE_INFINITY;
  const lostCount = trackers.map(() => 0);

  const delayFor = (p: Phase): number => {
    if (p.kind === 'frozen') return Number.POSITIVE_INFINITY;
    const base = p.kind === 'slow' ? p.delay + 2000 : p.delay;
    return p.reorder ? base * 2 * random() : base;
  };
  const write = (t: number, seq: number) => {
    ledger.written(LEASE, { seq, sentAt: t });
    writes.push(t);
    const arrive = t + delayFor(phase);
    // In order unless reordering: a reply never overtakes an earlier one on the stream.
    const last = inFlight.filter((f) => f.gen === ledger.stream).at(-1);
    const arriveAt = phase.reorder || !last ? arrive : Math.max(arrive, last.arriveAt);
    inFlight.push({ gen: ledger.stream, sentAt: t, arriveAt });
  };
  const renew = (t: number): number | undefined => {
    if (status === 'up') {
      const seq = ledger.nextSeq();
      write(t, seq);
      return seq;
    }
    if (status === 'opening') {
      const seq = ledger.nextSeq();
      queued.set(LEASE, seq);
      return seq;
    }
    return undefined;
  };
  const breakStream = (t: number) => {
    ledger.reset();
    queued.clear();
    inFlight = phase.lateData ? inFlight : [];
    for (const tr of trackers) tr.broken(t);
  };
  const openStream = (t: number) => {
    ledger.reset();
    status = 'up';
    for (const [, seq] of queued) write(t, seq);
    queued.clear();
    for (const tr of trackers) tr.streamReady(t);
  };
  const enterPhase = (t: number, next: Phase) => {
    const prev = phase;
    phase = next;
    if (next.kind === 'down' || next.kind === 'opening') {
      if (status === 'up') breakStream(t);
      status = next.kind === 'down' ? 'down' : 'opening';
      return;
    }
    if (status !== 'up') openStream(t);
    if (next.flush) {
      let k = 0;
      for (const f of inFlight)
        if (f.gen === ledger.stream) f.arriveAt = Math.min(f.arriveAt, t + next.delay + k++);
    } else if (prev.kind === 'frozen') {
      // The stall ends: what etcd answered meanwhile arrives now, in order.
      let k = 0;
      for (const f of inFlight)
        if (f.arriveAt === Number.POSITIVE_INFINITY) f.arriveAt = t + next.delay + k++;
    }
  };
  const blockedUntil = (t: number): number => {
    for (const b of sc.blocks) if (t >= b.at && t < b.at + b.ms) return b.at + b.ms;
    return t;
  };

  // Bound on the deadline: what etcd truly acknowledged, or the grant.
  const bound = () => Math.max(timing.ttlMs, ackedSentAt + timing.ttlMs) - sc.marginMs;
  const record = (t: number) => {
    trackers.forEach((tr, i) => {
      const prev = history[i]!.at(-1)?.state;
      if (prev === 'lost' && !isLost(tr)) violations.push(`session ${i} came back from lost at ${t}`);
      if (prev !== 'lost' && tr.state === 'lost') lostCount[i]!++;
      history[i]!.push({ t, state: tr.state });
      if (tr.state !== 'lost' && tr.deadline > bound() + 1e-6)
        violations.push(
          `session ${i} deadline ${tr.deadline} beyond what etcd acknowledged (${bound()}) at ${t}`,
        );
    });
  };

  let t = 0;
  record(t);
  for (let steps = 0; steps < 20_000; steps++) {
    const nextPhaseAt = bounds[phaseIndex + 1]?.at ?? Number.POSITIVE_INFINITY;
    const nextReply = Math.min(...inFlight.map((f) => f.arriveAt));
    const nextWake = Math.min(...trackers.map((tr) => tr.nextWakeAt));
    const due = Math.min(nextPhaseAt, nextReply, nextWake);
    if (due >= end) break;
    // Nothing runs while the loop is blocked; everything due meanwhile runs after, in order.
    const now = Math.max(t, blockedUntil(due));
    t = now;
    if (due === nextPhaseAt) {
      phaseIndex++;
      enterPhase(now, bounds[phaseIndex]!.phase);
    } else if (due === nextReply) {
      const idx = inFlight.findIndex((f) => f.arriveAt === nextReply);
      const reply = inFlight.splice(idx, 1)[0]!;
      const ttl = sc.revokeAt !== undefined && reply.arriveAt >= sc.revokeAt ? 0 : sc.ttlSeconds;
      const match: RenewalSend | undefined = ledger.answered(reply.gen, LEASE);
      if (reply.gen === ledger.stream && ttl > 0) ackedSentAt = Math.max(ackedSentAt, reply.sentAt);
      for (const [i, tr] of trackers.entries()) {
        const before = tr.deadline;
        const wasLost = isLost(tr);
        tr.replied(now, ttl, match);
        if (match === undefined && tr.deadline !== before)
          violations.push(`session ${i}: an unpaired reply moved the deadline at ${now}`);
        if (!wasLost && now >= before && !isLost(tr))
          violations.push(`session ${i}: a reply handled after the deadline kept it alive at ${now}`);
        if (!wasLost && ttl <= 0 && !isLost(tr))
          violations.push(`session ${i}: a TTL 0 reply did not end it at ${now}`);
      }
    } else {
      for (const [i, tr] of trackers.entries()) {
        if (tr.nextWakeAt > now) continue;
        const wasLost = isLost(tr);
        const deadline = tr.deadline;
        if (tr.tick(now)) tr.sent(now, renew(now));
        if (!wasLost && now >= deadline && !isLost(tr))
          violations.push(`session ${i}: alive past its deadline at ${now}`);
        if (tr.nextWakeAt <= now) violations.push(`session ${i}: timer would spin at ${now}`);
      }
    }
    record(now);
    if (violations.length > 0) break;
  }
  lostCount.forEach((n, i) => {
    if (n > 1) violations.push(`session ${i} declared lost ${n} times`);
  });
  return { timing, history, writes, violations, lastPhaseAt, end };
}

const phaseArb = (kinds: PhaseKind[]): fc.Arbitrary<Phase> =>
  fc.record({
    kind: fc.constantFrom(...kinds),
    ms: fc.integer({ min: 10, max: 8000 }),
    delay: fc.integer({ min: 0, max: 400 }),
    reorder: fc.boolean(),
    lateData: fc.boolean(),
  });

const scenarioArb = (steadyTail: boolean): fc.Arbitrary<Scenario> =>
  fc
    .record({
      ttlSeconds: fc.constantFrom(1, 2, 3, 5, 10, 60),
      marginFraction: fc.constantFrom(0, 0.05, 0.1),
      sessions: fc.integer({ min: 1, max: 2 }),
      chaos: fc.array(phaseArb(['ok', 'slow', 'frozen', 'down', 'opening']), { minLength: 1, maxLength: 8 }),
      revokeAt: steadyTail
        ? fc.constant(undefined)
        : fc.option(fc.integer({ min: 0, max: 60_000 }), { nil: undefined }),
      blocks: fc.array(
        fc.record({ at: fc.integer({ min: 0, max: 60_000 }), ms: fc.integer({ min: 1, max: 70_000 }) }),
        { maxLength: steadyTail ? 0 : 2 },
      ),
      seed: fc.integer(),
    })
    .map(({ ttlSeconds, marginFraction, chaos, ...rest }) => {
      const marginMs = Math.min(1000, ttlSeconds * 1000 * marginFraction);
      const phases = steadyTail
        ? [
            ...chaos,
            // Replies steadily well within the retry period, for several TTLs.
            {
              kind: 'ok' as const,
              ms: ttlSeconds * 4000 + 5000,
              delay: 50,
              reorder: false,
              lateData: false,
              flush: true,
            },
          ]
        : chaos;
      return { ttlSeconds, marginMs, phases, ...rest };
    });

describe('RenewalTracker and RenewalLedger (simulated keep-alive)', () => {
  it('never puts the deadline past what etcd acknowledged, pairs no stale reply, loses once, never spins', () => {
    fc.assert(
      fc.property(scenarioArb(false), (sc) => {
        const run = simulate(sc);
        expect(run.violations).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });

  it('stops flapping once replies arrive steadily: alive throughout, renewing every TTL/3', () => {
    fc.assert(
      fc.property(scenarioArb(true), (sc) => {
        const run = simulate(sc);
        expect(run.violations).toEqual([]);
        const settleAt = run.lastPhaseAt + 2 * run.timing.retryEveryMs + 500;
        for (const states of run.history) {
          if (states.find((s) => s.t <= settleAt && s.state === 'lost')) continue; // lost in the chaos
          // The state in force at settleAt (the last change before it) and every change after it.
          const atSettle = states.filter((s) => s.t <= settleAt).at(-1);
          const after = states.filter((s) => s.t > settleAt).map((s) => s.state);
          expect(new Set([...(atSettle ? [atSettle.state] : []), ...after])).toEqual(new Set(['alive']));
        }
        const steadyWrites = run.writes.filter((w) => w > settleAt).length;
        const window = run.end - settleAt;
        // At most one renewal per session per TTL/3, plus the one in progress at either end.
        expect(steadyWrites).toBeLessThanOrEqual(
          sc.sessions * (Math.floor(window / run.timing.renewEveryMs) + 2),
        );
      }),
      {
        numRuns: 300,
        // Found by this property: replies slower than the period once kept a backlog in flight.
        examples: [
          [
            {
              ttlSeconds: 1,
              marginMs: 0,
              phases: [
                { kind: 'ok', ms: 3675, delay: 334, reorder: false, lateData: false },
                { kind: 'ok', ms: 10, delay: 0, reorder: false, lateData: false },
                { kind: 'ok', ms: 9000, delay: 50, reorder: false, lateData: false, flush: true },
              ],
              sessions: 2,
              revokeAt: undefined,
              blocks: [],
              seed: 0,
            },
          ],
        ],
      },
    );
  });

  it('goes back to alive on the first reply after a stream that was slow to open', () => {
    // The stream takes 3 s to open while renewals are due every second: they all collapse into
    // one request. Its one reply must answer them all.
    const timing = renewalTiming(10, 1000);
    const ledger = new RenewalLedger();
    const tracker = new RenewalTracker(timing, 9000, 0);
    let queued: number | undefined;
    for (let t = 0; t < 3000; t = tracker.nextWakeAt) {
      if (tracker.tick(t)) {
        queued = ledger.nextSeq();
        tracker.sent(t, queued);
      }
    }
    expect(tracker.state).toBe('suspended');
    ledger.reset();
    ledger.written(LEASE, { seq: queued!, sentAt: 3000 });
    tracker.replied(3010, 10, ledger.answered(ledger.stream, LEASE));
    expect(tracker.state).toBe('alive');
    expect(tracker.deadline).toBe(3000 + 10_000 - 1000);
    // From here on, answered renewals every TTL/3 keep it alive without a single suspended.
    const states = new Set<RenewalState>();
    for (let t = tracker.nextWakeAt; t < 100_000; t = tracker.nextWakeAt) {
      if (tracker.tick(t)) {
        const seq = ledger.nextSeq();
        tracker.sent(t, seq);
        ledger.written(LEASE, { seq, sentAt: t });
        states.add(tracker.state);
        tracker.replied(t + 20, 10, ledger.answered(ledger.stream, LEASE));
      }
      states.add(tracker.state);
    }
    expect([...states]).toEqual(['alive']);
  });

  it('waits in steps no longer than the timers hold, without spinning, for a TTL of years', () => {
    const ttlSeconds = 9_000_000_000; // etcd's maximum, ~285 years
    const timing = renewalTiming(ttlSeconds, 1000);
    const tracker = new RenewalTracker(timing, timing.ttlMs - 1000, 0);
    expect(tracker.tick(0)).toBe(true);
    tracker.sent(0, 1);
    tracker.replied(5, ttlSeconds, { seq: 1, sentAt: 0 });
    expect(tracker.state).toBe('alive');
    expect(tracker.nextWakeAt).toBe(timing.renewEveryMs);
    // A wake long before it is due sends nothing and keeps the same wake time: no spin.
    expect(tracker.tick(2 ** 31 - 1)).toBe(false);
    expect(tracker.nextWakeAt).toBe(timing.renewEveryMs);
  });
});
