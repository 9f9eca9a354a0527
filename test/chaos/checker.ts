/**
 * The checker: judges one run from etcd's own history (every put and delete under the run's root,
 * replayed after the run) and the workers' logs. It proves, or reports the counterexample:
 *
 * - **no overlapping writers**: every committed write to the register was made by the holder of
 *   the lock at that revision (the key with the lowest create revision), so no two successful
 *   writes come from overlapping holds; for a semaphore, every slot write was made by a holder and
 *   the slots in use never exceed `permits` at any revision;
 * - **fencing tokens never go back** along the register's history, and strictly increase from
 *   one hold to the next (equal tokens are the same key incarnation, i.e. one hold in etcd);
 * - **no lost updates**: each write's count is the previous one + 1, the final count equals the
 *   number of writes, every acknowledged write is in the history, and nothing is in the history
 *   that no worker attempted or that a worker was told had failed;
 * - **grants are real**: the holder etcd reports at the revision of a worker's first read after
 *   `acquired` is that worker (unless it learnt of a loss first) — the etcd#11456 check;
 * - **losses are noticed**: a hold whose key vanished without its worker releasing it aborted
 *   `hold.signal`; a paused holder's late guarded write failed;
 * - **liveness**: every worker that was not killed acquired; no waiter that became the holder in
 *   etcd failed to notice it; no worker hung;
 * - **no leaks**: the lock prefix and the workers' leases are empty once all sessions closed.
 *
 * Pure: no I/O, so it can be unit-tested on synthetic histories and reused from a CLI.
 */
import type {
  FaultRecord,
  HistoryEvent,
  Millis,
  PauseOutcome,
  PrimitiveKind,
  ScenarioReport,
  Violation,
  ViolationKind,
  WorkerEvent,
} from './types.js';

export interface CheckInput {
  scenario: string;
  kind: PrimitiveKind;
  unguarded: boolean;
  /** the contenders' prefix: `name + '/'` */
  lockPrefix: string;
  /** Mutex/Election: the register key. Semaphore: the slots' prefix. */
  register: string;
  permits: number;
  /** etcd's history under the run's root, in revision order, from the register's initial put */
  history: HistoryEvent[];
  /** every worker's log lines, each worker's in the order written */
  events: WorkerEvent[];
  faults: FaultRecord[];
  /** workers the runner SIGKILLed on purpose */
  killed: ReadonlySet<string>;
  /** workers that did not exit by themselves in time (the runner killed them) */
  hung: readonly string[];
  /** when the runner saw each revision (for stall times only) */
  revTimes: ReadonlyMap<bigint, Millis>;
  /** keys under the lock prefix (and semaphore slots) left after every session closed */
  leftoverKeys: readonly string[];
  /** workers' leases still alive after every session closed */
  leftoverLeases: readonly string[];
  ttl: number;
  workers: number;
  durationMs: number;
  /** a waiter that etcd made the holder must notice within this long (default 3000 ms) */
  grantNoticeMs?: number;
}

type Ev<K extends WorkerEvent['ev']> = Extract<WorkerEvent, { ev: K }>;

/** Everything one acquire attempt logged. */
interface OpRecord {
  op: string;
  worker: string;
  lease: string;
  start: Ev<'start'>;
  acquired?: Ev<'acquired'>;
  read?: Ev<'read'>;
  lost?: Ev<'lost'>;
  writes: Ev<'write'>[];
  releasing?: Ev<'releasing'>;
  released?: Ev<'released'>;
  error?: Ev<'error'>;
}

interface Holder {
  key: string;
  createRev: bigint;
  lease: string;
  weight: number;
}

interface Snapshot {
  rev: bigint;
  /** holders at this revision, oldest first (a lock has at most one) */
  holders: Holder[];
}

interface RegisterValue {
  count: number;
  token: string;
  writer: string;
  op: string;
}

const hex = (lease: string): string => BigInt.asUintN(64, BigInt(lease)).toString(16);

export function check(input: CheckInput): ScenarioReport {
  const violations: Violation[] = [];
  const flag = (kind: ViolationKind, message: string) => violations.push({ kind, message });

  // ---------------------------------------------------------------------------------------------
  // the logs: ops by id, leases by worker
  const ops = new Map<string, OpRecord>();
  const workerOfLease = new Map<string, string>();
  const acquiredByToken = new Map<string, OpRecord>();
  const errors: Record<string, number> = {};
  const byWorker = new Map<string, WorkerEvent[]>();
  for (const e of input.events) {
    let list = byWorker.get(e.w);
    if (!list) byWorker.set(e.w, (list = []));
    list.push(e);
    if (e.ev === 'session') workerOfLease.set(e.lease, e.w);
    if (e.ev === 'error') errors[`${e.step}:${e.name}`] = (errors[`${e.step}:${e.name}`] ?? 0) + 1;
    if (e.ev === 'released' && e.error !== undefined) {
      const name = e.error.split(':')[0] ?? 'unknown';
      errors[`release:${name}`] = (errors[`release:${name}`] ?? 0) + 1;
    }
    if (e.ev === 'write' && e.outcome === 'unknown') {
      const name = (e.error ?? 'unknown').split(':')[0] ?? 'unknown';
      errors[`write:${name}`] = (errors[`write:${name}`] ?? 0) + 1;
    }
    if (e.ev === 'start') {
      ops.set(e.op, { op: e.op, worker: e.w, lease: e.lease, start: e, writes: [] });
      continue;
    }
    if (!('op' in e) || e.op === undefined) continue;
    const rec = ops.get(e.op);
    if (!rec) continue;
    switch (e.ev) {
      case 'acquired':
        rec.acquired = e;
        // A session that rejoins its own key after a failed release acquires the same token
        // again: the grant (and the handoff it ended) is the first one.
        if (!acquiredByToken.has(e.token)) acquiredByToken.set(e.token, rec);
        break;
      case 'read':
        rec.read = e;
        break;
      case 'lost':
        rec.lost = e;
        break;
      case 'write':
        rec.writes.push(e);
        break;
      case 'releasing':
        rec.releasing = e;
        break;
      case 'released':
        rec.released = e;
        break;
      case 'error':
        rec.error = e;
        break;
    }
  }
  const isLockKey = (key: string) => key.startsWith(input.lockPrefix);
  const workerOf = (lease: string) => workerOfLease.get(lease) ?? `lease ${hex(lease)}`;

  // ---------------------------------------------------------------------------------------------
  // replay etcd's history: holders at every revision, register writes, slot occupancy
  const alive = new Map<string, Holder>();
  const slots = new Map<string, { weight: number; token: string; writer: string }>();
  const snapshots: Snapshot[] = [];
  const deletions = new Map<string, bigint>(); // `${key}@${createRev}` -> delete revision
  const becameHolder = new Map<string, bigint>(); // token -> revision it became a holder
  const registerWrites: { rev: bigint; value: RegisterValue; holders: Holder[] }[] = [];
  const slotWrites: {
    rev: bigint;
    type: 'put' | 'delete';
    key: string;
    token?: string;
    holders: Holder[];
  }[] = [];
  let maxConcurrent = 0;

  const holdersNow = (): Holder[] => {
    const queue = [...alive.values()].sort((a, b) => (a.createRev < b.createRev ? -1 : 1));
    if (input.kind !== 'semaphore') return queue.slice(0, 1);
    const holders: Holder[] = [];
    let used = 0;
    for (const h of queue) {
      used += h.weight;
      if (used > input.permits) break;
      holders.push(h);
    }
    return holders;
  };
  const weightOf = (value: string): number => {
    if (input.kind !== 'semaphore') return 1;
    try {
      const w = (JSON.parse(value) as { weight?: unknown }).weight;
      return typeof w === 'number' && w >= 1 ? Math.min(w, input.permits) : input.permits;
    } catch {
      return input.permits;
    }
  };

  let current: Holder[] = [];
  const history = input.history;
  for (let i = 0; i < history.length;) {
    const rev = history[i]!.rev;
    const before = current;
    for (; i < history.length && history[i]!.rev === rev; i++) {
      const e = history[i]!;
      if (isLockKey(e.key)) {
        if (e.type === 'put') {
          if (!alive.has(e.key)) {
            alive.set(e.key, {
              key: e.key,
              createRev: e.createRev,
              lease: e.lease,
              weight: weightOf(e.value),
            });
          }
        } else {
          alive.delete(e.key);
          deletions.set(`${e.key}@${e.createRev}`, rev);
        }
      } else if (input.kind !== 'semaphore' && e.key === input.register && e.type === 'put') {
        registerWrites.push({ rev, value: JSON.parse(e.value) as RegisterValue, holders: before });
      } else if (input.kind === 'semaphore' && e.key.startsWith(input.register)) {
        if (e.type === 'put') {
          const v = JSON.parse(e.value) as { weight: number; token: string; writer: string };
          slots.set(e.key, v);
          slotWrites.push({ rev, type: 'put', key: e.key, token: v.token, holders: before });
        } else {
          slots.delete(e.key);
          slotWrites.push({ rev, type: 'delete', key: e.key, holders: before });
        }
      }
    }
    current = holdersNow();
    const changed =
      current.length !== before.length || current.some((h, j) => h.createRev !== before[j]?.createRev);
    if (changed) {
      snapshots.push({ rev, holders: current });
      for (const h of current) {
        const token = h.createRev.toString();
        if (!becameHolder.has(token)) becameHolder.set(token, rev);
      }
    }
    const used = [...slots.values()].reduce((sum, s) => sum + s.weight, 0);
    maxConcurrent = Math.max(maxConcurrent, input.kind === 'semaphore' ? used : current.length);
    if (used > input.permits) {
      const who = [...slots.values()].map((s) => `${s.writer} (token ${s.token})`).join(', ');
      flag(
        'oversubscribed',
        `at revision ${rev} ${used} permits were in use by ${who}; permits = ${input.permits}`,
      );
    }
  }

  const holdersAt = (rev: bigint): Holder[] => {
    let lo = 0;
    let hi = snapshots.length - 1;
    let found: Holder[] = [];
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (snapshots[mid]!.rev <= rev) {
        found = snapshots[mid]!.holders;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
  const describeHolders = (hs: Holder[]) =>
    hs.length === 0 ? 'nobody' : hs.map((h) => `${workerOf(h.lease)} (token ${h.createRev})`).join(', ');

  // ---------------------------------------------------------------------------------------------
  // the register: overlapping writers, token order, lost updates, attribution
  const writeLogOf = (op: string, phase: Ev<'write'>['phase']) =>
    ops.get(op)?.writes.find((w) => w.phase === phase);
  let writesInHistory = 0;
  let finalCount: number | undefined;
  if (input.kind !== 'semaphore') {
    const [init, ...writes] = registerWrites;
    let prev = init?.value ?? { count: 0, token: '0', writer: 'init', op: 'init' };
    let prevRev = init?.rev ?? 0n;
    for (const w of writes) {
      const v = w.value;
      writesInHistory++;
      const holder = w.holders[0];
      if (holder?.createRev.toString() !== v.token) {
        flag(
          'overlapping-writers',
          `register write at revision ${w.rev} by ${v.writer} (op ${v.op}, token ${v.token}) ` +
            `while etcd's lock holder was ${describeHolders(w.holders)}`,
        );
      }
      if (v.count !== prev.count + 1) {
        flag(
          'lost-update',
          `register write at revision ${w.rev} by ${v.writer} (op ${v.op}) set count ${v.count} ` +
            `after ${prev.writer}'s write of ${prev.count} at revision ${prevRev}: ` +
            (v.count <= prev.count ? `${prev.count - v.count + 1} update(s) overwritten` : 'a gap'),
        );
      }
      // Equal tokens are one hold in etcd's eyes (the same key incarnation): a session whose
      // release failed and which locked again rejoins its own key. Lower is a stale writer.
      if (prev.op !== 'init' && BigInt(v.token) < BigInt(prev.token)) {
        flag(
          'token-order',
          `fencing token ${v.token} of ${v.writer} at revision ${w.rev} is lower than ` +
            `the previous write's token ${prev.token} (${prev.writer}, revision ${prevRev})`,
        );
      }
      const logged = writeLogOf(v.op, 'rmw');
      const rec = ops.get(v.op);
      if (!rec) {
        flag(
          'phantom-write',
          `register write at revision ${w.rev} claims op ${v.op}, which no worker logged`,
        );
      } else if (logged?.outcome === 'failed') {
        flag(
          'phantom-write',
          `${rec.worker} was told op ${v.op}'s write failed, yet etcd has it at revision ${w.rev}`,
        );
      } else if (logged?.outcome === 'ok' && logged.rev !== w.rev.toString()) {
        flag(
          'phantom-write',
          `op ${v.op} was acknowledged at revision ${logged.rev} but etcd has it at ${w.rev}`,
        );
      } else if (!logged && !input.killed.has(rec.worker) && !input.hung.includes(rec.worker)) {
        flag(
          'phantom-write',
          `etcd has op ${v.op}'s write at revision ${w.rev}, but ${rec.worker} never logged sending it`,
        );
      }
      prev = v;
      prevRev = w.rev;
    }
    finalCount = prev.count;
    if (writes.length > 0 && finalCount !== writesInHistory) {
      flag('lost-update', `final count ${finalCount} but etcd's history holds ${writesInHistory} writes`);
    }
    const inHistory = new Set(writes.map((w) => `${w.value.op}@${w.rev}`));
    for (const rec of ops.values()) {
      const logged = rec.writes.find((x) => x.phase === 'rmw' && x.outcome === 'ok');
      if (logged && !inHistory.has(`${rec.op}@${logged.rev}`)) {
        flag(
          'lost-update',
          `${rec.worker}'s write of op ${rec.op} was acknowledged at revision ${logged.rev} but is not in etcd's history`,
        );
      }
    }
  } else {
    for (const w of slotWrites) {
      if (w.type === 'put') writesInHistory++;
      if (w.type !== 'put' || w.token === undefined) continue;
      if (!w.holders.some((h) => h.createRev.toString() === w.token)) {
        flag(
          'overlapping-writers',
          `slot ${w.key} entered at revision ${w.rev} with token ${w.token}, which was not among ` +
            `the semaphore's holders: ${describeHolders(w.holders)}`,
        );
      }
    }
    const puts = new Set(slotWrites.filter((w) => w.type === 'put').map((w) => `${w.token}@${w.rev}`));
    for (const rec of ops.values()) {
      const enter = rec.writes.find((x) => x.phase === 'enter' && x.outcome === 'ok');
      if (enter && !puts.has(`${enter.token}@${enter.rev}`)) {
        flag(
          'lost-update',
          `${rec.worker}'s slot entry (op ${rec.op}) was acknowledged at revision ${enter.rev} but is not in etcd's history`,
        );
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // grants, losses, pauses
  let zombieReads = 0;
  const pausedAround = (worker: string, t: Millis) =>
    input.faults.some(
      (f) =>
        f.kind === 'pause-holder' && f.worker === worker && f.t <= t && t <= (f.healedAt ?? Infinity) + 1000,
    );
  for (const rec of ops.values()) {
    const acq = rec.acquired;
    if (!acq) continue;
    if (rec.read && !(rec.lost && rec.lost.t <= rec.read.t)) {
      const readRev = BigInt(rec.read.rev);
      const holders = holdersAt(readRev);
      const became = becameHolder.get(acq.token);
      if (holders.some((h) => h.createRev.toString() === acq.token)) {
        // the grant is confirmed by etcd
      } else if (became !== undefined && became <= readRev) {
        // A real grant, lost again before the read (the process stalled past its TTL before it
        // could notice): the window that guarded writes exist for. Counted, not a violation.
        zombieReads++;
      } else {
        flag(
          'stale-grant',
          `${rec.worker} was granted token ${acq.token} (op ${rec.op}) but at its read at revision ` +
            `${rec.read.rev} etcd's holder was ${describeHolders(holders)}`,
        );
      }
    }
    const deletedAt = deletions.get(`${acq.key}@${acq.token}`);
    if (deletedAt === undefined || rec.lost || input.killed.has(rec.worker)) continue;
    if (!rec.releasing) {
      flag(
        'loss-unnoticed',
        `${rec.worker}'s key ${acq.key} (token ${acq.token}) was deleted at revision ${deletedAt} ` +
          `without a release, and hold.signal never aborted`,
      );
    }
  }

  const pauses: PauseOutcome[] = [];
  for (const f of input.faults) {
    if (f.kind !== 'pause-holder' || !f.worker || !f.op || !f.token || f.note?.startsWith('missed')) continue;
    const rec = ops.get(f.op);
    const healedAt = f.healedAt ?? f.t;
    const key = rec?.acquired?.key ?? '';
    const deletedAt = deletions.get(`${key}@${f.token}`);
    const deletedSeen = deletedAt === undefined ? undefined : input.revTimes.get(deletedAt);
    const lateWrites = (rec?.writes ?? []).filter((w) => w.t >= healedAt);
    const late = lateWrites[0];
    const expired =
      deletedAt !== undefined &&
      (deletedSeen !== undefined
        ? deletedSeen <= healedAt + 50
        : rec?.releasing === undefined || rec.releasing.t > healedAt);
    const outcome: PauseOutcome = {
      worker: f.worker,
      token: f.token,
      pausedMs: Math.round(healedAt - f.t),
      expiredDuringPause: expired,
      lateWrite: late
        ? late.outcome === 'ok'
          ? 'committed'
          : late.outcome === 'failed'
            ? 'failed'
            : 'unknown'
        : 'none',
    };
    if (rec?.lost) {
      outcome.signalled = rec.lost.reason;
      outcome.signalledAfterMs = Math.round(rec.lost.t - healedAt);
    }
    pauses.push(outcome);
    if (!expired) continue;
    if (!input.unguarded && late?.outcome === 'ok') {
      flag(
        'late-write-committed',
        `${f.worker} was stopped ${outcome.pausedMs} ms holding token ${f.token}, its lease expired, ` +
          `and its guarded write after SIGCONT still committed at revision ${late.rev}`,
      );
    }
    if (!rec?.lost) {
      flag(
        'loss-unnoticed',
        `${f.worker} resumed after its lease expired but hold.signal (token ${f.token}) never aborted`,
      );
    }
  }

  // ---------------------------------------------------------------------------------------------
  // liveness
  const grantNoticeMs = input.grantNoticeMs ?? 3000;
  for (const [worker, list] of byWorker) {
    if (input.killed.has(worker) || input.hung.includes(worker)) continue;
    if (!list.some((e) => e.ev === 'acquired')) {
      flag('starved', `${worker} never acquired (${list.filter((e) => e.ev === 'start').length} attempts)`);
    }
  }
  for (const f of input.faults) {
    for (const worker of f.waiting ?? []) {
      if (input.killed.has(worker) || input.hung.includes(worker)) continue;
      const later = byWorker.get(worker)?.some((e) => e.ev === 'acquired' && e.t > f.t);
      if (!later) {
        flag(
          'starved',
          `${worker} was waiting when etcd ${f.member ?? ''} went down (${f.kind}) and never acquired afterwards`,
        );
      }
    }
  }
  for (const w of input.hung) flag('hung', `${w} did not exit by itself after its deadline and was killed`);
  for (const [token, rev] of becameHolder) {
    if (acquiredByToken.has(token)) continue;
    const holder = findHolder(snapshots, token);
    if (!holder) continue;
    const worker = workerOfLease.get(holder.lease);
    const becameAt = input.revTimes.get(rev);
    if (!worker || input.killed.has(worker) || becameAt === undefined || pausedAround(worker, becameAt))
      continue;
    // The attempt that made this key: the worker's op on that lease, waiting when the key became
    // the holder, that ended without acquiring.
    const rec = [...ops.values()].find(
      (r) =>
        r.worker === worker &&
        r.lease === holder.lease &&
        !r.acquired &&
        r.error !== undefined &&
        r.start.t <= becameAt + 500 &&
        r.error.t >= becameAt - 500,
    );
    if (!rec?.error) continue;
    const endedAt = rec.error.t;
    if (endedAt - becameAt > grantNoticeMs && rec.error.name !== 'SessionExpiredError') {
      flag(
        'missed-grant',
        `${worker} became the holder in etcd at revision ${rev} (token ${token}) but was still waiting ` +
          `${Math.round(endedAt - becameAt)} ms later, when its wait ended with ${rec.error.name}`,
      );
    }
  }

  // ---------------------------------------------------------------------------------------------
  // handoff stalls and failovers
  const stalls: number[] = [];
  for (const [token, rev] of becameHolder) {
    const rec = acquiredByToken.get(token);
    const holder = findHolder(snapshots, token);
    if (!rec?.acquired || !holder || holder.createRev === rev) continue; // no wait: took a free lock
    const seen = input.revTimes.get(rev);
    if (seen === undefined) continue;
    stalls.push(Math.max(0, rec.acquired.t - seen));
  }
  stalls.sort((a, b) => a - b);
  let maxFailover = 0;
  for (const f of input.faults) {
    if (f.kind !== 'kill-holder' && f.kind !== 'pause-holder') continue;
    const next = input.events.find((e) => e.ev === 'acquired' && e.t > f.t && e.w !== f.worker);
    if (next) maxFailover = Math.max(maxFailover, next.t - f.t);
  }

  // ---------------------------------------------------------------------------------------------
  // leaks
  for (const key of input.leftoverKeys) flag('leaked-keys', `key ${key} remained after every session closed`);
  for (const lease of input.leftoverLeases) {
    flag('leaked-leases', `lease ${hex(lease)} of ${workerOf(lease)} remained after every session closed`);
  }

  const allWrites = [...ops.values()].flatMap((r) => r.writes);
  return {
    scenario: input.scenario,
    kind: input.kind,
    unguarded: input.unguarded,
    workers: input.workers,
    durationMs: Math.round(input.durationMs),
    acquisitions: [...ops.values()].filter((r) => r.acquired).length,
    sessionsLost: input.events.filter((e) => e.ev === 'session-end' && e.reason !== 'SessionClosedError')
      .length,
    writes: {
      ok: allWrites.filter((w) => w.outcome === 'ok').length,
      failed: allWrites.filter((w) => w.outcome === 'failed').length,
      unknown: allWrites.filter((w) => w.outcome === 'unknown').length,
      inHistory: writesInHistory,
    },
    faults: input.faults,
    pauses,
    violations,
    maxHandoffStallMs: Math.round(stalls.at(-1) ?? 0),
    medianHandoffStallMs: Math.round(stalls[Math.floor(stalls.length / 2)] ?? 0),
    handoffs: stalls.length,
    maxFailoverMs: Math.round(maxFailover),
    keysLeaked: input.leftoverKeys.length,
    leasesLeaked: input.leftoverLeases.length,
    maxConcurrentHolders: maxConcurrent,
    permits: input.permits,
    zombieReads,
    ...(finalCount !== undefined ? { finalCount } : {}),
    errors,
  };
}

function findHolder(snapshots: Snapshot[], token: string): Holder | undefined {
  for (const s of snapshots) {
    const h = s.holders.find((x) => x.createRev.toString() === token);
    if (h) return h;
  }
  return undefined;
}

/** One line per scenario: what ran, what was injected, what was found. */
export function summaryLine(r: ScenarioReport): string {
  const faults = new Map<string, number>();
  for (const f of r.faults) faults.set(f.kind, (faults.get(f.kind) ?? 0) + 1);
  const faultText = faults.size === 0 ? 'none' : [...faults].map(([k, n]) => `${k}×${n}`).join(' ');
  const kinds = new Map<string, number>();
  for (const v of r.violations) kinds.set(v.kind, (kinds.get(v.kind) ?? 0) + 1);
  const violationText =
    r.violations.length === 0
      ? '0'
      : `${r.violations.length} (${[...kinds].map(([k, n]) => `${k}×${n}`).join(' ')})`;
  const late = r.pauses.filter((p) => p.expiredDuringPause);
  let pauseText = '';
  if (late.length > 0) {
    const outcomes = new Map<string, number>();
    for (const p of late) outcomes.set(p.lateWrite, (outcomes.get(p.lateWrite) ?? 0) + 1);
    const signalled = late.filter((p) => p.signalled !== undefined);
    const reasons = [...new Set(signalled.map((p) => p.signalled))].join('/');
    const slowest = Math.max(0, ...signalled.map((p) => p.signalledAfterMs ?? 0));
    pauseText =
      `, ${late.length} pause(s) past the TTL: late write ${[...outcomes].map(([k, n]) => `${k}×${n}`).join(' ')}, ` +
      `hold.signal aborted in ${signalled.length} of ${late.length}` +
      (signalled.length > 0 ? ` (${reasons}, ≤ ${slowest} ms after SIGCONT)` : '');
  }
  return (
    `[chaos] ${r.scenario}: ops ${r.acquisitions} (writes ok ${r.writes.ok}, failed ${r.writes.failed}, ` +
    `unknown ${r.writes.unknown}), faults ${r.faults.length} (${faultText}), violations ${violationText}, ` +
    `max handoff stall ${r.maxHandoffStallMs} ms (median ${r.medianHandoffStallMs} ms over ${r.handoffs}), ` +
    `max failover ${r.maxFailoverMs} ms, sessions lost ${r.sessionsLost}, ` +
    `keys leaked ${r.keysLeaked}, leases leaked ${r.leasesLeaked}` +
    (r.kind === 'semaphore' ? `, max permits in use ${r.maxConcurrentHolders} of ${r.permits}` : '') +
    (r.zombieReads > 0 ? `, zombie reads ${r.zombieReads}` : '') +
    pauseText
  );
}
