/**
 * The checker on synthetic histories: a clean run passes, and every kind of violation it claims to
 * find is found. A checker that never reports anything proves nothing.
 */
import { describe, expect, it } from 'vitest';
import { check, summaryLine, type CheckInput } from './checker.js';
import type { FaultRecord, HistoryEvent, ViolationKind, WorkerEvent } from './types.js';

const LOCK = 'r/lock/';
const REGISTER = 'r/register';
const keyA = `${LOCK}1`;
const keyB = `${LOCK}2`;

const put = (rev: number, key: string, value: string, createRev = rev, lease = '0'): HistoryEvent => ({
  rev: BigInt(rev),
  type: 'put',
  key,
  value,
  createRev: BigInt(createRev),
  lease,
});
const del = (rev: number, key: string, createRev: number, lease = '0'): HistoryEvent => ({
  rev: BigInt(rev),
  type: 'delete',
  key,
  value: '',
  createRev: BigInt(createRev),
  lease,
});
const reg = (count: number, token: string, writer: string, op: string) =>
  JSON.stringify({ count, token, writer, op });

/** Two workers take turns: w1 (lease 1, token 11) then w2 (lease 2, token 12, waiting behind w1). */
function cleanRun(): CheckInput {
  const history: HistoryEvent[] = [
    put(10, REGISTER, reg(0, '0', 'init', 'init'), 10),
    put(11, keyA, 'w1', 11, '1'),
    put(12, keyB, 'w2', 12, '2'),
    put(13, REGISTER, reg(1, '11', 'w1', 'w1#1'), 10),
    del(14, keyA, 11, '1'),
    put(15, REGISTER, reg(2, '12', 'w2', 'w2#1'), 10),
    del(16, keyB, 12, '2'),
  ];
  const events: WorkerEvent[] = [
    { w: 'w1', t: 1000, ev: 'session', lease: '1', ttl: 2 },
    { w: 'w1', t: 1001, ev: 'start', op: 'w1#1', lease: '1' },
    { w: 'w1', t: 1002, ev: 'acquired', op: 'w1#1', key: keyA, token: '11', lease: '1' },
    { w: 'w1', t: 1003, ev: 'read', op: 'w1#1', token: '11', rev: '12', modRev: '10', count: 0 },
    {
      w: 'w1',
      t: 1004,
      ev: 'write',
      op: 'w1#1',
      token: '11',
      phase: 'rmw',
      outcome: 'ok',
      rev: '13',
      signalAborted: false,
    },
    { w: 'w1', t: 1005, ev: 'releasing', op: 'w1#1', token: '11' },
    { w: 'w1', t: 1006, ev: 'released', op: 'w1#1', token: '11' },
    { w: 'w1', t: 1007, ev: 'exit', completed: 1, reason: 'ops' },
    { w: 'w2', t: 1000, ev: 'session', lease: '2', ttl: 2 },
    { w: 'w2', t: 1001, ev: 'start', op: 'w2#1', lease: '2' },
    { w: 'w2', t: 1007, ev: 'acquired', op: 'w2#1', key: keyB, token: '12', lease: '2' },
    { w: 'w2', t: 1008, ev: 'read', op: 'w2#1', token: '12', rev: '14', modRev: '13', count: 1 },
    {
      w: 'w2',
      t: 1009,
      ev: 'write',
      op: 'w2#1',
      token: '12',
      phase: 'rmw',
      outcome: 'ok',
      rev: '15',
      signalAborted: false,
    },
    { w: 'w2', t: 1010, ev: 'releasing', op: 'w2#1', token: '12' },
    { w: 'w2', t: 1011, ev: 'released', op: 'w2#1', token: '12' },
    { w: 'w2', t: 1012, ev: 'exit', completed: 1, reason: 'ops' },
  ];
  return {
    scenario: 'synthetic',
    kind: 'mutex',
    unguarded: false,
    lockPrefix: LOCK,
    register: REGISTER,
    permits: 1,
    history,
    events,
    faults: [],
    killed: new Set(),
    hung: [],
    // when the runner saw each revision, consistent with the workers' clocks above
    revTimes: new Map<bigint, number>([
      [10n, 999],
      [11n, 1001.5],
      [12n, 1001.5],
      [13n, 1004.5],
      [14n, 1005.5],
      [15n, 1009.5],
      [16n, 1011.5],
    ]),
    leftoverKeys: [],
    leftoverLeases: [],
    ttl: 2,
    workers: 2,
    durationMs: 12,
  };
}

function kinds(input: CheckInput): ViolationKind[] {
  return [...new Set(check(input).violations.map((v) => v.kind))].sort();
}

function withHistory(edit: (h: HistoryEvent[]) => HistoryEvent[]): CheckInput {
  const run = cleanRun();
  return { ...run, history: edit(run.history) };
}

function withEvents(edit: (e: WorkerEvent[]) => WorkerEvent[]): CheckInput {
  const run = cleanRun();
  return { ...run, events: edit(run.events) };
}

describe('chaos checker', () => {
  it('passes a clean run and measures its handoff', () => {
    const report = check(cleanRun());
    expect(report.violations).toEqual([]);
    expect(report.acquisitions).toBe(2);
    expect(report.finalCount).toBe(2);
    expect(report.writes).toEqual({ ok: 2, failed: 0, unknown: 0, inHistory: 2 });
    // w2 waited behind w1: handoff from the delete at rev 14 (seen at 1005.5) to w2's acquired (1007)
    expect(report.handoffs).toBe(1);
    expect(report.maxHandoffStallMs).toBe(2);
    expect(summaryLine(report)).toContain('violations 0');
  });

  it.each<[string, CheckInput, ViolationKind[]]>([
    [
      'a write by a worker while another held the lock (the unguarded paused holder)',
      withHistory((h) => [
        ...h.slice(0, 3),
        put(13, REGISTER, reg(1, '12', 'w2', 'w2#1'), 10),
        del(14, keyA, 11, '1'),
        put(15, REGISTER, reg(1, '11', 'w1', 'w1#1'), 10),
        del(16, keyB, 12, '2'),
      ]),
      ['lost-update', 'overlapping-writers', 'phantom-write', 'token-order'],
    ],
    [
      'a count that does not go up by one',
      withHistory((h) =>
        h.map((e) => (e.rev === 15n ? put(15, REGISTER, reg(1, '12', 'w2', 'w2#1'), 10) : e)),
      ),
      ['lost-update'],
    ],
    [
      'an acknowledged write missing from the history',
      withHistory((h) => h.filter((e) => e.rev !== 15n)),
      ['lost-update'],
    ],
    [
      'a write in the history that its worker was told had failed',
      withEvents((es) =>
        es.map((e) => (e.ev === 'write' && e.w === 'w2' ? { ...e, outcome: 'failed' as const } : e)),
      ),
      ['phantom-write'],
    ],
    [
      'a grant while etcd says someone else holds (etcd#11456)',
      withEvents((es) => es.map((e) => (e.ev === 'read' && e.w === 'w2' ? { ...e, rev: '13' } : e))),
      ['stale-grant'],
    ],
    [
      'a hold whose key vanished without hold.signal aborting',
      withEvents((es) => es.filter((e) => !(e.w === 'w1' && e.ev === 'releasing'))),
      ['loss-unnoticed'],
    ],
    [
      'a worker that never acquired',
      withEvents((es) => es.filter((e) => !(e.w === 'w2' && e.ev !== 'session' && e.ev !== 'start'))),
      ['phantom-write', 'starved'],
    ],
    [
      'keys and leases left behind',
      { ...cleanRun(), leftoverKeys: [keyA], leftoverLeases: ['1'] },
      ['leaked-keys', 'leaked-leases'],
    ],
    ['a worker that hung', { ...cleanRun(), hung: ['w2'] }, ['hung']],
  ])('flags %s', (_, input, expected) => {
    expect(kinds(input)).toEqual(expected);
  });

  it('accepts two writes with one token: a session that rejoined its own key after a failed release', () => {
    const run = cleanRun();
    const history = [
      ...run.history.slice(0, 4),
      put(14, REGISTER, reg(2, '11', 'w1', 'w1#2'), 10),
      del(15, keyA, 11, '1'),
    ];
    const events: WorkerEvent[] = [
      ...run.events.filter(
        (e) => e.w === 'w1' && e.ev !== 'exit' && e.ev !== 'releasing' && e.ev !== 'released',
      ),
      { w: 'w1', t: 1004.5, ev: 'releasing', op: 'w1#1', token: '11' },
      { w: 'w1', t: 1005, ev: 'released', op: 'w1#1', token: '11', error: 'EtcdUnavailableError: down' },
      { w: 'w1', t: 1006, ev: 'start', op: 'w1#2', lease: '1' },
      { w: 'w1', t: 1007, ev: 'acquired', op: 'w1#2', key: keyA, token: '11', lease: '1' },
      { w: 'w1', t: 1008, ev: 'read', op: 'w1#2', token: '11', rev: '13', modRev: '13', count: 1 },
      {
        w: 'w1',
        t: 1009,
        ev: 'write',
        op: 'w1#2',
        token: '11',
        phase: 'rmw',
        outcome: 'ok',
        rev: '14',
        signalAborted: false,
      },
      { w: 'w1', t: 1010, ev: 'releasing', op: 'w1#2', token: '11' },
      { w: 'w1', t: 1011, ev: 'released', op: 'w1#2', token: '11' },
    ];
    const report = check({ ...run, history, events, workers: 1 });
    expect(report.violations).toEqual([]);
    expect(report.errors).toEqual({ 'release:EtcdUnavailableError': 1 });
  });

  it('counts, without flagging, a read made after a real grant had already ended (a stalled holder)', () => {
    const input = withEvents((es) =>
      es.map((e) => (e.ev === 'read' && e.w === 'w2' ? { ...e, rev: '16' } : e)),
    );
    const report = check(input);
    expect(report.violations).toEqual([]);
    expect(report.zombieReads).toBe(1);
  });

  it('flags a waiter that became the holder in etcd and never noticed', () => {
    const run = cleanRun();
    // w2's key became the holder at rev 14 (t = 1004); its wait ended 5 s later without a grant.
    const events = run.events
      .filter((e) => e.w === 'w1' || e.ev === 'session' || e.ev === 'start')
      .concat([
        {
          w: 'w2',
          t: 6004,
          ev: 'error',
          op: 'w2#1',
          step: 'acquire',
          name: 'TimeoutError',
          message: 'deadline',
        },
        { w: 'w3', t: 1000, ev: 'session', lease: '3', ttl: 2 },
      ]);
    const history = run.history.filter((e) => e.rev !== 15n);
    const found = kinds({ ...run, events, history, killed: new Set(['w3']) });
    expect(found).toContain('missed-grant');
  });

  it('flags a late guarded write that committed after a pause past the TTL', () => {
    const run = cleanRun();
    const pause: FaultRecord = {
      kind: 'pause-holder',
      t: 1003.5,
      healedAt: 1008,
      worker: 'w1',
      op: 'w1#1',
      token: '11',
    };
    // w1 was stopped after its read; its key expired at rev 14 (seen at t = 1004), yet its write
    // after SIGCONT committed at rev 15 — and it never learnt of the loss.
    const history = [
      ...run.history.slice(0, 3),
      del(14, keyA, 11, '1'),
      put(15, REGISTER, reg(1, '11', 'w1', 'w1#1'), 10),
    ];
    const events = run.events
      .filter((e) => e.w === 'w1')
      .map((e) =>
        e.ev === 'write'
          ? { ...e, t: 1009, rev: '15' }
          : e.ev === 'releasing' || e.ev === 'released'
            ? { ...e, t: 1010 }
            : e,
      );
    const report = check({ ...run, history, events, faults: [pause], revTimes: new Map([[14n, 1004]]) });
    expect(report.pauses).toEqual([
      { worker: 'w1', token: '11', pausedMs: 5, expiredDuringPause: true, lateWrite: 'committed' },
    ]);
    expect(report.violations.map((v) => v.kind)).toEqual(
      expect.arrayContaining(['overlapping-writers', 'late-write-committed', 'loss-unnoticed']),
    );
  });

  it('flags a semaphore with more permits in use than it has', () => {
    const slot = (w: string, token: string) => JSON.stringify({ token, writer: w, op: `${w}#1`, weight: 1 });
    const c = (weight: number) => JSON.stringify({ weight, value: '' });
    const history: HistoryEvent[] = [
      put(10, 'r/begin', 'begin'),
      put(11, `${LOCK}1/a`, c(1), 11, '1'),
      put(12, `${LOCK}2/b`, c(1), 12, '2'),
      put(13, 'r/slots/w1', slot('w1', '11'), 13, '1'),
      put(14, 'r/slots/w2', slot('w2', '12'), 14, '2'),
    ];
    const input: CheckInput = {
      ...cleanRun(),
      kind: 'semaphore',
      register: 'r/slots/',
      permits: 1,
      history,
      events: [],
    };
    expect(kinds(input)).toEqual(['overlapping-writers', 'oversubscribed']);
    expect(kinds({ ...input, permits: 2 })).toEqual([]);
  });
});
