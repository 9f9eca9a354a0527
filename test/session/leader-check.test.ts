import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LEADER_CHECK_TIMING, LeaderCheck } from '../../src/session/leader-check.js';
import { RenewalLedger } from '../../src/session/renewals.js';

/**
 * The leader check's pacing over simulated streams: renewals sent at random times and answered
 * after random delays (or never), probes that take random times, driven the way the keep-alive
 * hub drives it (probe when `dueAt` comes, re-evaluate after each probe). Time is virtual ms.
 */
interface Renewal {
  sentAt: number;
  /** Milliseconds until answered; undefined: never. */
  answerAfter: number | undefined;
}

interface Run {
  probes: { at: number; oldest: number; fastAfterPrompt: boolean }[];
  /** The longest stretch with a renewal overdue and no probe sent or in flight. */
  longestUnprobed: number;
}

const { overdueAfterMs, fastEveryMs, fastProbes, slowEveryMs } = LEADER_CHECK_TIMING;

function simulate(renewals: Renewal[], probeDurations: number[], endAt: number): Run {
  const ledger = new RenewalLedger();
  const gen = ledger.reset();
  const check = new LeaderCheck();
  const sends = [...renewals].sort((a, b) => a.sentAt - b.sentAt);
  const answers: { at: number; lease: string; sentAt: number }[] = [];
  const probes: Run['probes'] = [];
  let probeEndsAt: number | undefined;
  let lastProbeActivity = Number.NEGATIVE_INFINITY;
  let longestUnprobed = 0;
  let promptSinceProbe = false;
  let now = 0;
  let i = 0;
  for (;;) {
    const due = check.dueAt(ledger.oldestSentAt());
    const next = Math.min(
      sends[i]?.sentAt ?? Number.POSITIVE_INFINITY,
      answers[0]?.at ?? Number.POSITIVE_INFINITY,
      probeEndsAt ?? Number.POSITIVE_INFINITY,
      due,
    );
    if (next > endAt) break;
    // Measure how long a renewal was overdue without a probe being sent or answered.
    const oldest = ledger.oldestSentAt();
    if (oldest !== undefined && probeEndsAt === undefined) {
      const overdueSince = Math.max(oldest + overdueAfterMs, lastProbeActivity);
      longestUnprobed = Math.max(longestUnprobed, next - overdueSince);
    }
    now = next;
    if (probeEndsAt === now) {
      probeEndsAt = undefined;
      check.finished();
      lastProbeActivity = now;
    } else if (answers[0]?.at === now) {
      const a = answers.shift()!;
      const send = ledger.answered(gen, a.lease);
      if (send) {
        if (now - send.sentAt < overdueAfterMs) promptSinceProbe = true;
        check.answered(send.sentAt, now);
      }
      if (ledger.idle) lastProbeActivity = now;
    } else if (sends[i]?.sentAt === now) {
      const r = sends[i++]!;
      // One lease per renewal: the ledger pairs answers per lease, in order.
      const lease = String(i);
      ledger.written(lease, { seq: ledger.nextSeq(), sentAt: now });
      if (r.answerAfter !== undefined) {
        answers.push({ at: now + r.answerAfter, lease, sentAt: now });
        answers.sort((a, b) => a.at - b.at);
      }
      if (ledger.oldestSentAt() === now) lastProbeActivity = now;
    } else {
      expect(probeEndsAt, 'a probe while another is in flight').toBeUndefined();
      check.started(now);
      probes.push({ at: now, oldest: ledger.oldestSentAt()!, fastAfterPrompt: promptSinceProbe });
      promptSinceProbe = false;
      probeEndsAt = now + (probeDurations[(probes.length - 1) % probeDurations.length] ?? 0);
    }
  }
  return { probes, longestUnprobed };
}

const renewal = fc.record({
  sentAt: fc.integer({ min: 0, max: 20_000 }),
  answerAfter: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: undefined }),
});
const probeDuration = fc.array(fc.integer({ min: 0, max: LEADER_CHECK_TIMING.probeTimeoutMs }), {
  minLength: 1,
  maxLength: 10,
});

describe('LeaderCheck', () => {
  it('never probes while every renewal is answered within the overdue bound', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            sentAt: fc.integer({ min: 0, max: 20_000 }),
            answerAfter: fc.integer({ min: 0, max: overdueAfterMs - 1 }),
          }),
          { maxLength: 200 },
        ),
        probeDuration,
        (renewals, durations) => {
          expect(simulate(renewals, durations, 30_000).probes).toEqual([]);
        },
      ),
    );
  });

  it('probes only for a renewal unanswered for the overdue bound, one at a time, paced', () => {
    fc.assert(
      fc.property(fc.array(renewal, { maxLength: 60 }), probeDuration, (renewals, durations) => {
        const { probes } = simulate(renewals, durations, 30_000);
        let sinceFast = 0;
        probes.forEach((p, k) => {
          expect(p.at - p.oldest).toBeGreaterThanOrEqual(overdueAfterMs);
          if (p.fastAfterPrompt) sinceFast = 0;
          if (k > 0) {
            const gap = p.at - probes[k - 1]!.at;
            expect(gap).toBeGreaterThanOrEqual(sinceFast < fastProbes ? fastEveryMs : slowEveryMs);
          }
          sinceFast++;
        });
      }),
    );
  });

  it('keeps probing while a renewal stays unanswered: never a gap longer than the slow pace', () => {
    fc.assert(
      fc.property(fc.array(renewal, { maxLength: 60 }), probeDuration, (renewals, durations) => {
        const stuck = { sentAt: 0, answerAfter: undefined };
        const { probes, longestUnprobed } = simulate([stuck, ...renewals], durations, 30_000);
        expect(probes[0]?.at).toBe(overdueAfterMs);
        expect(longestUnprobed).toBeLessThanOrEqual(slowEveryMs);
      }),
    );
  });

  it('asks a stalled member at the fast pace first: 8 probes in the first 2 s, then one a second', () => {
    const { probes } = simulate([{ sentAt: 0, answerAfter: undefined }], [5], 10_000);
    const times = probes.map((p) => p.at);
    expect(times.slice(0, 9)).toEqual([250, 500, 750, 1000, 1250, 1500, 1750, 2000, 3000]);
    expect(times.at(-1)).toBe(10_000);
    expect(times.length).toBe(8 + 8);
  });

  it('starts over at the fast pace once a renewal is answered promptly', () => {
    const check = new LeaderCheck();
    for (let k = 0; k < fastProbes; k++) {
      check.started(k * 250);
      check.finished();
    }
    expect(check.dueAt(0)).toBe((fastProbes - 1) * 250 + slowEveryMs);
    check.answered(5000, 5010);
    expect(check.dueAt(5100)).toBe(5100 + overdueAfterMs);
    check.answered(6000, 6000 + overdueAfterMs); // not prompt: no effect
    expect(check.dueAt(0)).toBe((fastProbes - 1) * 250 + fastEveryMs);
  });

  it('is never due while a probe is in flight or nothing is unanswered', () => {
    const check = new LeaderCheck();
    expect(check.dueAt(undefined)).toBe(Number.POSITIVE_INFINITY);
    check.started(300);
    expect(check.inFlight).toBe(true);
    expect(check.dueAt(0)).toBe(Number.POSITIVE_INFINITY);
    check.finished();
    expect(check.dueAt(0)).toBe(550);
  });
});

describe('RenewalLedger.oldestSentAt', () => {
  it('is the earliest send still unanswered on the current stream, across leases', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.boolean()), { maxLength: 50 }),
        (steps) => {
          const ledger = new RenewalLedger();
          const gen = ledger.reset();
          const open = new Map<string, number[]>();
          steps.forEach(([lease, answer], t) => {
            if (answer) {
              ledger.answered(gen, lease);
              open.get(lease)?.shift();
            } else {
              ledger.written(lease, { seq: ledger.nextSeq(), sentAt: t });
              open.set(lease, [...(open.get(lease) ?? []), t]);
            }
            const expected = [...open.values()].flat();
            expect(ledger.oldestSentAt()).toBe(expected.length ? Math.min(...expected) : undefined);
            expect(ledger.idle).toBe(expected.length === 0);
          });
          ledger.reset();
          expect(ledger.oldestSentAt()).toBeUndefined();
        },
      ),
    );
  });
});
