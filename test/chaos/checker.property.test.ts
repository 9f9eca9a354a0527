/**
 * The checker against generated histories: random valid runs (workers enqueue, are granted in
 * etcd's order, write, release) pass every property, and each kind of planted violation is
 * flagged — every time, as that kind.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { check, type CheckInput } from './checker.js';
import type { HistoryEvent, ViolationKind, WorkerEvent } from './types.js';

const LOCK = 'r/lock/';
const REGISTER = 'r/register';
const SLOTS = 'r/slots/';

type Kind = 'mutex' | 'semaphore';

interface Op {
  op: string;
  worker: number;
  key: string;
  token: bigint;
  phase: 'waiting' | 'acquired' | 'read' | 'written' | 'entered' | 'exited';
}

/** A valid run, simulated step by step; `choices` pick which enabled step happens next. */
function simulate(kind: Kind, workers: number, permits: number, choices: number[]): CheckInput {
  let rev = 10n;
  let t = 1000;
  const history: HistoryEvent[] = [];
  const events: WorkerEvent[] = [];
  const revTimes = new Map<bigint, number>();
  const queue: Op[] = [];
  const busy = new Map<number, Op>();
  const attempts = new Map<number, number>();
  let count = 0;
  const lease = (w: number) => String(w + 1);
  const name = (w: number) => `w${w + 1}`;
  const tick = () => (t += 1);
  const commit = (e: Omit<HistoryEvent, 'rev'>) => {
    rev++;
    history.push({ ...e, rev });
    revTimes.set(rev, t + 0.5); // the runner sees it a little after it happened
    return rev;
  };
  const log = (w: number, e: Record<string, unknown>) => {
    events.push({ w: name(w), t: tick(), ...e } as WorkerEvent);
  };
  commit(
    kind === 'mutex'
      ? {
          type: 'put',
          key: REGISTER,
          value: JSON.stringify({ count: 0, token: '0', writer: 'init', op: 'init' }),
          createRev: 11n,
          lease: '0',
        }
      : { type: 'put', key: 'r/begin', value: 'begin', createRev: 11n, lease: '0' },
  );
  const holders = () => {
    if (kind === 'mutex') return queue.slice(0, 1);
    return queue.slice(0, permits); // weight 1 each
  };

  const steps = (mayStart: boolean): (() => void)[] => {
    const out: (() => void)[] = [];
    for (let w = 0; w < workers; w++) {
      const op = busy.get(w);
      if (!op) {
        if (!mayStart) continue;
        out.push(() => {
          const n = (attempts.get(w) ?? 0) + 1;
          attempts.set(w, n);
          if (n === 1) log(w, { ev: 'session', lease: lease(w), ttl: 2 });
          const id = `${name(w)}#${n}`;
          log(w, { ev: 'start', op: id, lease: lease(w) });
          const key = `${LOCK}${lease(w)}/${n}`;
          const value = kind === 'semaphore' ? JSON.stringify({ weight: 1, value: name(w) }) : name(w);
          const token = commit({ type: 'put', key, value, createRev: rev + 1n, lease: lease(w) });
          const o: Op = { op: id, worker: w, key, token, phase: 'waiting' };
          queue.push(o);
          busy.set(w, o);
        });
        continue;
      }
      const tok = op.token.toString();
      const release = () => {
        log(w, { ev: 'releasing', op: op.op, token: tok });
        commit({ type: 'delete', key: op.key, value: '', createRev: op.token, lease: lease(w) });
        queue.splice(queue.indexOf(op), 1);
        log(w, { ev: 'released', op: op.op, token: tok });
        busy.delete(w);
      };
      switch (op.phase) {
        case 'waiting':
          if (holders().includes(op)) {
            out.push(() => {
              log(w, { ev: 'acquired', op: op.op, key: op.key, token: tok, lease: lease(w) });
              op.phase = 'acquired';
            });
          }
          break;
        case 'acquired':
          out.push(
            kind === 'mutex'
              ? () => {
                  log(w, { ev: 'read', op: op.op, token: tok, rev: rev.toString(), modRev: '0', count });
                  op.phase = 'read';
                }
              : () => {
                  const r = commit({
                    type: 'put',
                    key: `${SLOTS}${name(w)}`,
                    value: JSON.stringify({ token: tok, writer: name(w), op: op.op, weight: 1 }),
                    createRev: rev + 1n,
                    lease: lease(w),
                  });
                  const write = { op: op.op, token: tok, phase: 'enter', outcome: 'ok', rev: r.toString() };
                  log(w, { ev: 'write', ...write, signalAborted: false });
                  op.phase = 'entered';
                },
          );
          break;
        case 'read':
          out.push(() => {
            count++;
            const value = JSON.stringify({ count, token: tok, writer: name(w), op: op.op });
            const r = commit({ type: 'put', key: REGISTER, value, createRev: 11n, lease: '0' });
            const write = { op: op.op, token: tok, phase: 'rmw', outcome: 'ok', rev: r.toString() };
            log(w, { ev: 'write', ...write, signalAborted: false });
            op.phase = 'written';
          });
          break;
        case 'entered':
          out.push(() => {
            const r = commit({
              type: 'delete',
              key: `${SLOTS}${name(w)}`,
              value: '',
              createRev: 0n,
              lease: '0',
            });
            const write = { op: op.op, token: tok, phase: 'exit', outcome: 'ok', rev: r.toString() };
            log(w, { ev: 'write', ...write, signalAborted: false });
            op.phase = 'exited';
          });
          break;
        case 'written':
        case 'exited':
          out.push(release);
          break;
      }
    }
    return out;
  };
  for (const c of choices) {
    const s = steps(true);
    s[c % s.length]!();
  }
  // drain: finish every attempt in progress, starting none (the front of the queue can always move)
  for (let s = steps(false); s.length > 0; s = steps(false)) s[0]!();
  return {
    scenario: 'generated',
    kind,
    unguarded: false,
    lockPrefix: LOCK,
    register: kind === 'mutex' ? REGISTER : SLOTS,
    permits,
    history,
    events,
    faults: [],
    killed: new Set(),
    hung: [],
    revTimes,
    leftoverKeys: [],
    leftoverLeases: [],
    ttl: 2,
    workers,
    durationMs: t - 1000,
  };
}

const run = (kind: Kind) =>
  fc
    .record({
      workers: fc.integer({ min: 1, max: 4 }),
      permits: fc.integer({ min: 1, max: 3 }),
      choices: fc.array(fc.nat(), { minLength: 1, maxLength: 200, size: 'max' }),
    })
    .map(({ workers, permits, choices }) => simulate(kind, workers, kind === 'mutex' ? 1 : permits, choices));

const kindsOf = (input: CheckInput) => [...new Set(check(input).violations.map((v) => v.kind))].sort();

/** Register writes (after the initial put) of a mutex run, as indexes into its history. */
const registerWrites = (input: CheckInput) =>
  input.history.flatMap((e, i) => (e.key === REGISTER && e.type === 'put' && i > 0 ? [i] : []));

function editValue(input: CheckInput, at: number, edit: (v: Record<string, unknown>) => void): CheckInput {
  const history = input.history.map((e, i) => {
    if (i !== at) return e;
    const value = JSON.parse(e.value) as Record<string, unknown>;
    edit(value);
    return { ...e, value: JSON.stringify(value) };
  });
  return { ...input, history };
}

/** Kinds a planted violation may bring along by necessity (see each plant). */
const COMPANIONS: Partial<Record<ViolationKind, ViolationKind[]>> = {
  // In a queue ordered by revision holders' tokens only go up: a lower token is a non-holder.
  'token-order': ['overlapping-writers'],
};

function expectFlaggedAs(input: CheckInput, planted: ViolationKind) {
  const found = kindsOf(input);
  expect(found).toContain(planted);
  for (const k of found) expect([planted, ...(COMPANIONS[planted] ?? [])]).toContain(k);
}

describe('chaos checker on generated histories', () => {
  it('generates contended runs: waiters handed the lock, semaphores with several holders', () => {
    const mutexRuns = fc.sample(run('mutex'), 200).map(check);
    expect(mutexRuns.filter((r) => r.handoffs > 0).length).toBeGreaterThan(50);
    expect(Math.max(...mutexRuns.map((r) => r.acquisitions))).toBeGreaterThan(5);
    const semaphoreRuns = fc.sample(run('semaphore'), 200).map(check);
    expect(semaphoreRuns.filter((r) => r.maxConcurrentHolders >= 2).length).toBeGreaterThan(20);
  });

  it('passes every valid mutex run', () => {
    fc.assert(
      fc.property(run('mutex'), (input) => {
        expect(check(input).violations).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('passes every valid semaphore run, and never sees more permits in use than there are', () => {
    fc.assert(
      fc.property(run('semaphore'), (input) => {
        const report = check(input);
        expect(report.violations).toEqual([]);
        expect(report.maxConcurrentHolders).toBeLessThanOrEqual(input.permits);
      }),
      { numRuns: 200 },
    );
  });

  it('flags a write stamped with the previous holder’s token as overlapping writers', () => {
    fc.assert(
      fc.property(
        run('mutex').filter((i) => registerWrites(i).length >= 2),
        fc.nat(),
        (input, pick) => {
          const writes = registerWrites(input);
          const j = 1 + (pick % (writes.length - 1));
          const prevToken = (JSON.parse(input.history[writes[j - 1]!]!.value) as { token: string }).token;
          expectFlaggedAs(
            editValue(input, writes[j]!, (v) => (v.token = prevToken)),
            'overlapping-writers',
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('flags an overwritten count as a lost update', () => {
    fc.assert(
      fc.property(
        run('mutex').filter((i) => registerWrites(i).length >= 1),
        fc.nat(),
        (input, pick) => {
          const writes = registerWrites(input);
          const at = writes[pick % writes.length]!;
          expectFlaggedAs(
            editValue(input, at, (v) => (v.count = (v.count as number) - 1)),
            'lost-update',
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('flags a token lower than the previous write’s', () => {
    fc.assert(
      fc.property(
        run('mutex').filter((i) => registerWrites(i).length >= 2),
        fc.nat(),
        (input, pick) => {
          const writes = registerWrites(input);
          const j = 1 + (pick % (writes.length - 1));
          const prevToken = BigInt(
            (JSON.parse(input.history[writes[j - 1]!]!.value) as { token: string }).token,
          );
          expectFlaggedAs(
            editValue(input, writes[j]!, (v) => (v.token = (prevToken - 1n).toString())),
            'token-order',
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('flags a semaphore slot that takes more permits than the semaphore has', () => {
    fc.assert(
      fc.property(
        run('semaphore').filter((i) => i.history.some((e) => e.key.startsWith(SLOTS) && e.type === 'put')),
        fc.nat(),
        (input, pick) => {
          const slots = input.history.flatMap((e, i) =>
            e.key.startsWith(SLOTS) && e.type === 'put' ? [i] : [],
          );
          const at = slots[pick % slots.length]!;
          expectFlaggedAs(
            editValue(input, at, (v) => (v.weight = input.permits + 1)),
            'oversubscribed',
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('flags keys and leases left behind', () => {
    fc.assert(
      fc.property(run('mutex'), (input) => {
        expectFlaggedAs({ ...input, leftoverKeys: [`${LOCK}1/99`] }, 'leaked-keys');
        expectFlaggedAs({ ...input, leftoverLeases: ['1'] }, 'leaked-leases');
      }),
      { numRuns: 50 },
    );
  });

  /** Appends one more attempt by `w9` to a valid run: its key, then `plant` decides the rest. */
  function append(input: CheckInput, plant: 'orphan' | 'two-keys' | 'false-success'): CheckInput {
    const last = input.history.at(-1)!.rev;
    let t = input.durationMs + 2000;
    const rev = (n: number) => last + BigInt(n);
    const history = [...input.history];
    const events = [...input.events];
    const revTimes = new Map(input.revTimes);
    const at = (n: number, time: number) => revTimes.set(rev(n), time);
    const key = `${LOCK}9/1`;
    events.push({ w: 'w9', t: t++, ev: 'session', lease: '9', ttl: 2 });
    events.push({ w: 'w9', t: t++, ev: 'start', op: 'w9#1', lease: '9' });
    history.push({ rev: rev(1), type: 'put', key, value: 'w9', createRev: rev(1), lease: '9' });
    at(1, t++);
    const token = rev(1).toString();
    if (plant === 'false-success') {
      // its lease expired while it waited (the key went with it), yet it reported a grant
      history.push({ rev: rev(2), type: 'delete', key, value: '', createRev: rev(1), lease: '9' });
      at(2, t++);
      events.push({ w: 'w9', t: t++, ev: 'session-end', lease: '9', reason: 'SessionExpiredError' });
      events.push({ w: 'w9', t: t++, ev: 'acquired', op: 'w9#1', key, token, lease: '9' });
      events.push({ w: 'w9', t: t++, ev: 'lost', op: 'w9#1', token, reason: 'SessionExpiredError' });
      events.push({ w: 'w9', t: t++, ev: 'exit', completed: 0, reason: 'deadline' });
    } else if (plant === 'orphan') {
      // the enqueue's reply was lost: the attempt failed, its key stayed on the live lease
      // (the first key, still there, holds the lock: the retry waits for ever, until the session
      // closes at the end of the run and takes the key with it)
      const err = { step: 'acquire', name: 'EtcdUnavailableError', message: 'lost' } as const;
      events.push({ w: 'w9', t: t++, ev: 'error', op: 'w9#1', ...err });
      t += 10_000;
      history.push({ rev: rev(2), type: 'delete', key, value: '', createRev: rev(1), lease: '9' });
      at(2, t++);
      events.push({ w: 'w9', t: t++, ev: 'exit', completed: 0, reason: 'deadline' });
      // w9 never acquired: starvation, which this plant does not test, is excused
      return { ...input, history, events, revTimes, killed: new Set(['w9']) };
    } else {
      // a retried enqueue made a second key while the first one stayed
      const second = `${LOCK}9/2`;
      history.push({ rev: rev(2), type: 'put', key: second, value: 'w9', createRev: rev(2), lease: '9' });
      at(2, t++);
      history.push({ rev: rev(3), type: 'delete', key, value: '', createRev: rev(1), lease: '9' });
      at(3, t++);
      history.push({ rev: rev(4), type: 'delete', key: second, value: '', createRev: rev(2), lease: '9' });
      at(4, t++);
    }
    return { ...input, history, events, revTimes, killed: new Set(['w9']) };
  }

  it('flags a wait that reported success after etcd had deleted its key (a dead session)', () => {
    fc.assert(
      fc.property(run('mutex'), (input) => {
        const planted = append(input, 'false-success');
        expectFlaggedAs({ ...planted, killed: new Set() }, 'false-success');
      }),
      { numRuns: 100 },
    );
  });

  it('flags a key that outlived its failed attempt on a live session (a lost enqueue reply)', () => {
    fc.assert(
      fc.property(run('mutex'), (input) => {
        expectFlaggedAs(append(input, 'orphan'), 'orphan-key');
      }),
      { numRuns: 100 },
    );
  });

  it('flags two contender keys of one worker at once (a retried enqueue after a lost reply)', () => {
    fc.assert(
      fc.property(run('mutex'), (input) => {
        expectFlaggedAs(append(input, 'two-keys'), 'orphan-key');
      }),
      { numRuns: 100 },
    );
  });
});
