/**
 * The checker: judges one run from etcd's own history (every put and delete under the run's root,
 * replayed after the run) and the workers' logs. {@link replay} walks both once; each property is
 * then one function over that replay ({@link PROPERTIES}), which proves it or reports the
 * counterexample:
 *
 * - **exclusive writers**: every committed write to the register was made by the holder of the
 *   lock at that revision (a mutex's or election's oldest key, an RWMutex's writer holding alone),
 *   and every semaphore slot was entered by one of the semaphore's holders;
 * - **permits**: the semaphore's slots in use never exceed `permits` at any revision;
 * - **token order**: fencing tokens never go back along the register's history;
 * - **no lost updates**: each write's count is the previous one + 1, the final count equals the
 *   number of writes, and every acknowledged write is in the history;
 * - **attribution**: nothing is in the history that no worker attempted or that a worker was told
 *   had failed;
 * - **real grants**: the holder etcd reports at the revision of a worker's first read after
 *   `acquired` is that worker (unless it learnt of a loss first) — the etcd#11456 check;
 * - **no false success**: no wait resolved after etcd had already deleted its own key (a waiter
 *   stalled past its TTL must learn its session died, not that it holds);
 * - **losses noticed**: a hold whose key vanished without its worker releasing it aborted
 *   `hold.signal`; a paused holder's late guarded write failed;
 * - **barrier**: no participant passed enter() before `count` participants were in, in etcd's order;
 * - **liveness**: every worker that was not killed acquired; no waiter that became the holder in
 *   etcd failed to notice it; no worker hung;
 * - **no orphans**: no worker ever had two contender keys at once, and no key outlived the attempt
 *   that made it while its session lived (the key a lost reply leaves behind);
 * - **no leaks**: the lock prefix and the workers' leases are empty once all sessions closed.
 *
 * Pure: no I/O, so it can be unit- and property-tested on synthetic histories.
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
  /** Mutex/RWMutex/Election: the register key. Semaphore: the slots' prefix. */
  register: string;
  permits: number;
  /** DoubleBarrier: participants per round */
  count?: number;
  /** etcd's history under the run's root, in revision order, from the register's initial put */
  history: HistoryEvent[];
  /** every worker's log lines, each worker's in the order written */
  events: WorkerEvent[];
  faults: FaultRecord[];
  /** workers the runner SIGKILLed on purpose */
  killed: ReadonlySet<string>;
  /** workers that did not exit by themselves in time (the runner killed them) */
  hung: readonly string[];
  /** when the runner saw each revision (for stall times and the timed checks) */
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
  /** a contender key may outlive its failed attempt by this long (default 3000 ms) */
  orphanGraceMs?: number;
}

type Ev<K extends WorkerEvent['ev']> = Extract<WorkerEvent, { ev: K }>;

/** Everything one acquire attempt logged. */
export interface OpRecord {
  op: string;
  worker: string;
  lease: string;
  start: Ev<'start'>;
  acquired?: Ev<'acquired'>;
  entered?: Ev<'entered'>;
  left?: Ev<'left'>;
  read?: Ev<'read'>;
  lost?: Ev<'lost'>;
  writes: Ev<'write'>[];
  releasing?: Ev<'releasing'>;
  released?: Ev<'released'>;
  error?: Ev<'error'>;
}

export interface Holder {
  key: string;
  createRev: bigint;
  lease: string;
  weight: number;
  /** RWMutex: a writer's key */
  writer: boolean;
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

/** One incarnation of a contender key, from its creation to its deletion (if any). */
export interface KeyLife {
  key: string;
  createRev: bigint;
  lease: string;
  deletedAt?: bigint;
}

/** The run, walked once: what every property reads. */
export interface Replay {
  input: CheckInput;
  ops: Map<string, OpRecord>;
  byWorker: Map<string, WorkerEvent[]>;
  workerOfLease: Map<string, string>;
  /** the first acquire of each token (a rejoin of the own key acquires the same token again) */
  acquiredByToken: Map<string, OpRecord>;
  errors: Record<string, number>;
  /** holder changes, in revision order */
  snapshots: Snapshot[];
  /** `${key}@${createRev}` → revision of its deletion */
  deletions: Map<string, bigint>;
  /** token → revision at which it became a holder */
  becameHolder: Map<string, bigint>;
  registerWrites: { rev: bigint; value: RegisterValue; holders: Holder[] }[];
  slotWrites: { rev: bigint; type: 'put' | 'delete'; key: string; token?: string; holders: Holder[] }[];
  /** semaphore: every revision at which the slots in use exceeded the permits */
  overPermits: { rev: bigint; used: number; who: string }[];
  maxConcurrent: number;
  /** every contender key incarnation, in creation order */
  lives: KeyLife[];
  /** barrier: live participants after each revision that changed them */
  participants: { rev: bigint; n: number }[];
  holdersAt(rev: bigint): Holder[];
  describeHolders(hs: Holder[]): string;
  workerOf(lease: string): string;
  /** a worker the runner killed or gave up on: its log ends early, by design */
  excused(worker: string): boolean;
}

const hex = (lease: string): string => BigInt.asUintN(64, BigInt(lease)).toString(16);

function indexLogs(input: CheckInput) {
  const ops = new Map<string, OpRecord>();
  const workerOfLease = new Map<string, string>();
  const acquiredByToken = new Map<string, OpRecord>();
  const errors: Record<string, number> = {};
  const byWorker = new Map<string, WorkerEvent[]>();
  const count = (key: string) => (errors[key] = (errors[key] ?? 0) + 1);
  for (const e of input.events) {
    let list = byWorker.get(e.w);
    if (!list) byWorker.set(e.w, (list = []));
    list.push(e);
    if (e.ev === 'session') workerOfLease.set(e.lease, e.w);
    if (e.ev === 'error') count(`${e.step}:${e.name}`);
    if (e.ev === 'released' && e.error !== undefined) count(`release:${e.error.split(':')[0] ?? 'unknown'}`);
    if (e.ev === 'write' && e.outcome === 'unknown') count(`write:${(e.error ?? 'unknown').split(':')[0]}`);
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
        if (!acquiredByToken.has(e.token)) acquiredByToken.set(e.token, rec);
        break;
      case 'entered':
        rec.entered = e;
        break;
      case 'left':
        rec.left = e;
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
  return { ops, workerOfLease, acquiredByToken, errors, byWorker };
}

/** Walks etcd's history once: holders at every revision, register and slot writes, key lives. */
export function replay(input: CheckInput): Replay {
  const logs = indexLogs(input);
  const barrierPrefix = `${input.lockPrefix}waiters/`;
  const isContender = (key: string) =>
    input.kind === 'barrier' ? key.startsWith(barrierPrefix) : key.startsWith(input.lockPrefix);
  const writePrefix = `${input.lockPrefix}write/`;
  const workerOf = (lease: string) => logs.workerOfLease.get(lease) ?? `lease ${hex(lease)}`;

  const weightOf = (value: string): number => {
    if (input.kind !== 'semaphore') return 1;
    try {
      const w = (JSON.parse(value) as { weight?: unknown }).weight;
      return typeof w === 'number' && w >= 1 ? Math.min(w, input.permits) : input.permits;
    } catch {
      return input.permits;
    }
  };
  const alive = new Map<string, Holder>();
  const lifeOf = new Map<string, KeyLife>();
  const lives: KeyLife[] = [];
  const slots = new Map<string, { weight: number; token: string; writer: string }>();
  const holdersNow = (): Holder[] => {
    const queue = [...alive.values()].sort((a, b) => (a.createRev < b.createRev ? -1 : 1));
    switch (input.kind) {
      case 'barrier':
        return [];
      case 'rwmutex': {
        if (queue[0]?.writer) return queue.slice(0, 1);
        const firstWriter = queue.findIndex((h) => h.writer);
        return firstWriter < 0 ? queue : queue.slice(0, firstWriter);
      }
      case 'semaphore': {
        const holders: Holder[] = [];
        let used = 0;
        for (const h of queue) {
          used += h.weight;
          if (used > input.permits) break;
          holders.push(h);
        }
        return holders;
      }
      default:
        return queue.slice(0, 1);
    }
  };

  const r: Omit<Replay, 'holdersAt' | 'describeHolders' | 'workerOf' | 'excused'> = {
    input,
    ...logs,
    snapshots: [],
    deletions: new Map(),
    becameHolder: new Map(),
    registerWrites: [],
    slotWrites: [],
    overPermits: [],
    maxConcurrent: 0,
    lives,
    participants: [],
  };
  let current: Holder[] = [];
  const history = input.history;
  for (let i = 0; i < history.length;) {
    const rev = history[i]!.rev;
    const before = current;
    const aliveBefore = alive.size;
    for (; i < history.length && history[i]!.rev === rev; i++) {
      const e = history[i]!;
      if (isContender(e.key)) {
        if (e.type === 'put') {
          if (!alive.has(e.key)) {
            alive.set(e.key, {
              key: e.key,
              createRev: e.createRev,
              lease: e.lease,
              weight: weightOf(e.value),
              writer: e.key.startsWith(writePrefix),
            });
            const life: KeyLife = { key: e.key, createRev: e.createRev, lease: e.lease };
            lives.push(life);
            lifeOf.set(e.key, life);
          }
        } else {
          alive.delete(e.key);
          r.deletions.set(`${e.key}@${e.createRev}`, rev);
          const life = lifeOf.get(e.key);
          if (life) life.deletedAt = rev;
          lifeOf.delete(e.key);
        }
      } else if (
        input.kind !== 'semaphore' &&
        input.kind !== 'barrier' &&
        e.key === input.register &&
        e.type === 'put'
      ) {
        r.registerWrites.push({ rev, value: JSON.parse(e.value) as RegisterValue, holders: before });
      } else if (input.kind === 'semaphore' && e.key.startsWith(input.register)) {
        if (e.type === 'put') {
          const v = JSON.parse(e.value) as { weight: number; token: string; writer: string };
          slots.set(e.key, v);
          r.slotWrites.push({ rev, type: 'put', key: e.key, token: v.token, holders: before });
        } else {
          slots.delete(e.key);
          r.slotWrites.push({ rev, type: 'delete', key: e.key, holders: before });
        }
      }
    }
    if (alive.size !== aliveBefore) r.participants.push({ rev, n: alive.size });
    current = holdersNow();
    const changed =
      current.length !== before.length || current.some((h, j) => h.createRev !== before[j]?.createRev);
    if (changed) {
      r.snapshots.push({ rev, holders: current });
      for (const h of current) {
        const token = h.createRev.toString();
        if (!r.becameHolder.has(token)) r.becameHolder.set(token, rev);
      }
    }
    const used = [...slots.values()].reduce((sum, s) => sum + s.weight, 0);
    r.maxConcurrent = Math.max(r.maxConcurrent, input.kind === 'semaphore' ? used : current.length);
    if (used > input.permits) {
      const who = [...slots.values()].map((s) => `${s.writer} (token ${s.token})`).join(', ');
      r.overPermits.push({ rev, used, who });
    }
  }

  const holdersAt = (rev: bigint): Holder[] => {
    let lo = 0;
    let hi = r.snapshots.length - 1;
    let found: Holder[] = [];
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (r.snapshots[mid]!.rev <= rev) {
        found = r.snapshots[mid]!.holders;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
  return {
    ...r,
    holdersAt,
    describeHolders: (hs) =>
      hs.length === 0 ? 'nobody' : hs.map((h) => `${workerOf(h.lease)} (token ${h.createRev})`).join(', '),
    workerOf,
    excused: (w) => input.killed.has(w) || input.hung.includes(w),
  };
}

// -------------------------------------------------------------------------------------------------
// the properties: each reads the replay and returns its violations

type Property = (r: Replay) => Violation[];
const v = (kind: ViolationKind, message: string): Violation => ({ kind, message });
const isLock = (r: Replay) => r.input.kind !== 'semaphore' && r.input.kind !== 'barrier';

/** Register writes only by the lock's sole holder; slot entries only by a semaphore holder. */
export const exclusiveWriters: Property = (r) => {
  const out: Violation[] = [];
  for (const w of r.registerWrites.slice(1)) {
    const val = w.value;
    if (w.holders.length !== 1 || w.holders[0]!.createRev.toString() !== val.token) {
      out.push(
        v(
          'overlapping-writers',
          `register write at revision ${w.rev} by ${val.writer} (op ${val.op}, token ${val.token}) ` +
            `while etcd's lock holder was ${r.describeHolders(w.holders)}`,
        ),
      );
    }
  }
  for (const w of r.slotWrites) {
    if (w.type !== 'put' || w.token === undefined) continue;
    if (!w.holders.some((h) => h.createRev.toString() === w.token)) {
      out.push(
        v(
          'overlapping-writers',
          `slot ${w.key} entered at revision ${w.rev} with token ${w.token}, which was not among ` +
            `the semaphore's holders: ${r.describeHolders(w.holders)}`,
        ),
      );
    }
  }
  return out;
};

/** The semaphore's slots in use never exceed its permits. */
export const permitsRespected: Property = (r) =>
  r.overPermits.map((o) =>
    v(
      'oversubscribed',
      `at revision ${o.rev} ${o.used} permits were in use by ${o.who}; permits = ${r.input.permits}`,
    ),
  );

/**
 * Fencing tokens never go back along the register's history. Equal tokens are one hold in etcd's
 * eyes (the same key incarnation): a session whose release failed rejoins its own key.
 */
export const tokenOrder: Property = (r) => {
  const out: Violation[] = [];
  const [init, ...writes] = r.registerWrites;
  let prev = init;
  for (const w of writes) {
    if (prev && prev.value.op !== 'init' && BigInt(w.value.token) < BigInt(prev.value.token)) {
      out.push(
        v(
          'token-order',
          `fencing token ${w.value.token} of ${w.value.writer} at revision ${w.rev} is lower than ` +
            `the previous write's token ${prev.value.token} (${prev.value.writer}, revision ${prev.rev})`,
        ),
      );
    }
    prev = w;
  }
  return out;
};

/** Counts go up by one, the final count is the number of writes, acknowledged writes are there. */
export const noLostUpdates: Property = (r) => {
  const out: Violation[] = [];
  if (isLock(r)) {
    const [init, ...writes] = r.registerWrites;
    let prev = init?.value ?? { count: 0, token: '0', writer: 'init', op: 'init' };
    let prevRev = init?.rev ?? 0n;
    for (const w of writes) {
      const val = w.value;
      if (val.count !== prev.count + 1) {
        out.push(
          v(
            'lost-update',
            `register write at revision ${w.rev} by ${val.writer} (op ${val.op}) set count ${val.count} ` +
              `after ${prev.writer}'s write of ${prev.count} at revision ${prevRev}: ` +
              (val.count <= prev.count ? `${prev.count - val.count + 1} update(s) overwritten` : 'a gap'),
          ),
        );
      }
      prev = val;
      prevRev = w.rev;
    }
    if (writes.length > 0 && prev.count !== writes.length) {
      out.push(
        v('lost-update', `final count ${prev.count} but etcd's history holds ${writes.length} writes`),
      );
    }
    const inHistory = new Set(writes.map((w) => `${w.value.op}@${w.rev}`));
    for (const rec of r.ops.values()) {
      const logged = rec.writes.find((x) => x.phase === 'rmw' && x.outcome === 'ok');
      if (logged && !inHistory.has(`${rec.op}@${logged.rev}`)) {
        out.push(
          v(
            'lost-update',
            `${rec.worker}'s write of op ${rec.op} was acknowledged at revision ${logged.rev} but is not in etcd's history`,
          ),
        );
      }
    }
  } else if (r.input.kind === 'semaphore') {
    const puts = new Set(r.slotWrites.filter((w) => w.type === 'put').map((w) => `${w.token}@${w.rev}`));
    for (const rec of r.ops.values()) {
      const enter = rec.writes.find((x) => x.phase === 'enter' && x.outcome === 'ok');
      if (enter && !puts.has(`${enter.token}@${enter.rev}`)) {
        out.push(
          v(
            'lost-update',
            `${rec.worker}'s slot entry (op ${rec.op}) was acknowledged at revision ${enter.rev} but is not in etcd's history`,
          ),
        );
      }
    }
  }
  return out;
};

/** Every write in the history was sent by the op it names, and not reported to it as failed. */
export const attribution: Property = (r) => {
  const out: Violation[] = [];
  for (const w of r.registerWrites.slice(1)) {
    const val = w.value;
    const rec = r.ops.get(val.op);
    const logged = rec?.writes.find((x) => x.phase === 'rmw');
    if (!rec) {
      out.push(
        v('phantom-write', `register write at revision ${w.rev} claims op ${val.op}, which no worker logged`),
      );
    } else if (logged?.outcome === 'failed') {
      out.push(
        v(
          'phantom-write',
          `${rec.worker} was told op ${val.op}'s write failed, yet etcd has it at revision ${w.rev}`,
        ),
      );
    } else if (logged?.outcome === 'ok' && logged.rev !== w.rev.toString()) {
      out.push(
        v(
          'phantom-write',
          `op ${val.op} was acknowledged at revision ${logged.rev} but etcd has it at ${w.rev}`,
        ),
      );
    } else if (!logged && !r.excused(rec.worker)) {
      out.push(
        v(
          'phantom-write',
          `etcd has op ${val.op}'s write at revision ${w.rev}, but ${rec.worker} never logged sending it`,
        ),
      );
    }
  }
  return out;
};

/** Reads made after a real grant whose hold etcd had already ended: counted, not a violation. */
function grantsAtRead(r: Replay): { stale: Violation[]; zombieReads: number } {
  const stale: Violation[] = [];
  let zombieReads = 0;
  for (const rec of r.ops.values()) {
    const acq = rec.acquired;
    if (!acq || !rec.read || (rec.lost && rec.lost.t <= rec.read.t)) continue;
    const readRev = BigInt(rec.read.rev);
    const holders = r.holdersAt(readRev);
    const became = r.becameHolder.get(acq.token);
    if (holders.some((h) => h.createRev.toString() === acq.token)) continue;
    if (became !== undefined && became <= readRev) {
      // A real grant, lost before the read (the process stalled past its TTL before it could
      // notice): the window that guarded writes exist for.
      zombieReads++;
      continue;
    }
    stale.push(
      v(
        'stale-grant',
        `${rec.worker} was granted token ${acq.token} (op ${rec.op}) but at its read at revision ` +
          `${rec.read.rev} etcd's holder was ${r.describeHolders(holders)}`,
      ),
    );
  }
  return { stale, zombieReads };
}

/** The holder etcd reports at a worker's first read after its grant is that worker. */
export const realGrants: Property = (r) => grantsAtRead(r).stale;

/**
 * No wait resolved once etcd had deleted its own key: a waiter whose session died while it waited
 * (a SIGSTOP or a blocked event loop past the TTL) must be told so, not granted. Judged on the
 * run's one clock: the runner saw the deletion before the worker logged its success.
 */
export const noFalseSuccess: Property = (r) => {
  const out: Violation[] = [];
  for (const rec of r.ops.values()) {
    const success = rec.acquired ?? rec.entered;
    if (!success) continue;
    const token = tokenOf(r, success);
    const deletedAt = r.deletions.get(`${success.key}@${token}`);
    if (deletedAt === undefined) continue;
    const seen = r.input.revTimes.get(deletedAt);
    if (seen === undefined || seen >= success.t) continue;
    const became = r.becameHolder.get(token);
    const what = rec.acquired ? 'acquired' : 'entered the barrier';
    out.push(
      v(
        'false-success',
        `${rec.worker} ${what} (op ${rec.op}, token ${token}) ${Math.round(success.t - seen)} ms ` +
          `after etcd deleted its key at revision ${deletedAt}` +
          (became === undefined ? ', a key that never held' : '') +
          ': its hold was void from the start (a dead session, or a key it had released)',
      ),
    );
  }
  return out;
};

/**
 * The own key's create revision of a success: logged, or (a participant that found its key
 * already gone could not read it) the latest incarnation of that key created before the success.
 */
function tokenOf(r: Replay, success: { key: string; token: string; t: Millis }): string {
  if (success.token !== '') return success.token;
  let found = '';
  for (const life of r.lives) {
    const created = r.input.revTimes.get(life.createRev);
    if (life.key === success.key && (created === undefined || created <= success.t))
      found = life.createRev.toString();
  }
  return found;
}

/** A hold whose key vanished without a release aborted `hold.signal`. */
export const lossesNoticed: Property = (r) => {
  const out: Violation[] = [];
  for (const rec of r.ops.values()) {
    const acq = rec.acquired;
    if (!acq) continue;
    const deletedAt = r.deletions.get(`${acq.key}@${acq.token}`);
    if (deletedAt === undefined || rec.lost || rec.releasing || r.input.killed.has(rec.worker)) continue;
    out.push(
      v(
        'loss-unnoticed',
        `${rec.worker}'s key ${acq.key} (token ${acq.token}) was deleted at revision ${deletedAt} ` +
          `without a release, and hold.signal never aborted`,
      ),
    );
  }
  return out;
};

/** What each pause of a holder did (the Jepsen scenario), recorded. */
function pauseOutcomes(r: Replay): { f: FaultRecord; rec: OpRecord | undefined; outcome: PauseOutcome }[] {
  const out: { f: FaultRecord; rec: OpRecord | undefined; outcome: PauseOutcome }[] = [];
  for (const f of r.input.faults) {
    if (f.kind !== 'pause-holder' || !f.worker || !f.op || !f.token || f.note?.startsWith('missed')) continue;
    const rec = r.ops.get(f.op);
    const healedAt = f.healedAt ?? f.t;
    const deletedAt = r.deletions.get(`${rec?.acquired?.key ?? ''}@${f.token}`);
    const deletedSeen = deletedAt === undefined ? undefined : r.input.revTimes.get(deletedAt);
    const late = (rec?.writes ?? []).find((w) => w.t >= healedAt);
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
    out.push({ f, rec, outcome });
  }
  return out;
}

/** A holder paused past its TTL learnt of the loss, and its late guarded write failed. */
export const pausedHolders: Property = (r) => {
  const out: Violation[] = [];
  for (const { f, rec, outcome } of pauseOutcomes(r)) {
    if (!outcome.expiredDuringPause) continue;
    const late = (rec?.writes ?? []).find((w) => w.t >= (f.healedAt ?? f.t));
    if (!r.input.unguarded && late?.outcome === 'ok') {
      out.push(
        v(
          'late-write-committed',
          `${f.worker} was stopped ${outcome.pausedMs} ms holding token ${f.token}, its lease expired, ` +
            `and its guarded write after SIGCONT still committed at revision ${late.rev}`,
        ),
      );
    }
    if (!rec?.lost) {
      out.push(
        v(
          'loss-unnoticed',
          `${f.worker} resumed after its lease expired but hold.signal (token ${f.token}) never aborted`,
        ),
      );
    }
  }
  return out;
};

/** No participant passed enter() before `count` participants were in at some revision. */
export const barrierCounts: Property = (r) => {
  const out: Violation[] = [];
  const count = r.input.count;
  if (r.input.kind !== 'barrier' || count === undefined) return out;
  for (const rec of r.ops.values()) {
    const e = rec.entered;
    if (!e || e.rev === '0') continue;
    const token = tokenOf(r, e);
    if (token === '') continue;
    const from = BigInt(token);
    const to = BigInt(e.rev);
    let most = 0;
    let before = 0;
    for (const p of r.participants) {
      if (p.rev < from) before = p.n;
      else if (p.rev <= to) most = Math.max(most, p.n);
    }
    most = Math.max(most, from <= to ? before : 0);
    if (most < count) {
      out.push(
        v(
          'barrier-early',
          `${rec.worker} entered (op ${rec.op}, key created at revision ${e.token}) but between then and ` +
            `revision ${e.rev} at most ${most} of ${count} participants were in`,
        ),
      );
    }
  }
  return out;
};

/** Every worker acquired; waiters across a member fault acquired later; nobody hung. */
export const liveness: Property = (r) => {
  const out: Violation[] = [];
  for (const [worker, list] of r.byWorker) {
    if (r.excused(worker)) continue;
    if (!list.some((e) => e.ev === 'acquired' || e.ev === 'entered')) {
      out.push(
        v('starved', `${worker} never acquired (${list.filter((e) => e.ev === 'start').length} attempts)`),
      );
    }
  }
  for (const f of r.input.faults) {
    for (const worker of f.waiting ?? []) {
      if (r.excused(worker)) continue;
      const later = r.byWorker
        .get(worker)
        ?.some((e) => (e.ev === 'acquired' || e.ev === 'entered') && e.t > f.t);
      if (!later) {
        out.push(
          v(
            'starved',
            `${worker} was waiting when etcd ${f.member ?? ''} went down (${f.kind}) and never acquired afterwards`,
          ),
        );
      }
    }
  }
  for (const w of r.input.hung)
    out.push(v('hung', `${w} did not exit by itself after its deadline and was killed`));
  return out;
};

const stoppedAround = (r: Replay, worker: string, t: Millis) =>
  r.input.faults.some(
    (f) =>
      (f.kind === 'pause-holder' || f.kind === 'pause-waiter' || f.kind === 'block-waiter') &&
      f.worker === worker &&
      f.t <= t &&
      t <= (f.healedAt ?? Infinity) + 1000,
  );

/** A waiter that etcd made the holder noticed within `grantNoticeMs`. */
export const grantsNoticed: Property = (r) => {
  const out: Violation[] = [];
  const grantNoticeMs = r.input.grantNoticeMs ?? 3000;
  for (const [token, rev] of r.becameHolder) {
    if (r.acquiredByToken.has(token)) continue;
    const holder = findHolder(r.snapshots, token);
    if (!holder) continue;
    const worker = r.workerOfLease.get(holder.lease);
    const becameAt = r.input.revTimes.get(rev);
    if (!worker || r.input.killed.has(worker) || becameAt === undefined || stoppedAround(r, worker, becameAt))
      continue;
    const rec = [...r.ops.values()].find(
      (o) =>
        o.worker === worker &&
        o.lease === holder.lease &&
        !o.acquired &&
        o.error !== undefined &&
        o.start.t <= becameAt + 500 &&
        o.error.t >= becameAt - 500,
    );
    if (!rec?.error) continue;
    const endedAt = rec.error.t;
    if (endedAt - becameAt > grantNoticeMs && rec.error.name !== 'SessionExpiredError') {
      out.push(
        v(
          'missed-grant',
          `${worker} became the holder in etcd at revision ${rev} (token ${token}) but was still waiting ` +
            `${Math.round(endedAt - becameAt)} ms later, when its wait ended with ${rec.error.name}`,
        ),
      );
    }
  }
  return out;
};

/**
 * No worker ever had two contender keys at once (each runs one attempt at a time), and no key
 * outlived, while its session lived, the failed attempt that made it: the key an enqueue leaves
 * behind when its reply was lost. Such a key sits in the queue on a live lease, ahead of
 * everyone, until the session ends.
 */
export const noOrphans: Property = (r) => {
  const out: Violation[] = [];
  const grace = r.input.orphanGraceMs ?? 3000;
  const liveByLease = new Map<string, KeyLife[]>();
  const flagged = new Set<KeyLife>();
  const events: { rev: bigint; life: KeyLife; put: boolean }[] = [];
  for (const life of r.lives) {
    events.push({ rev: life.createRev, life, put: true });
    if (life.deletedAt !== undefined) events.push({ rev: life.deletedAt, life, put: false });
  }
  events.sort((a, b) => (a.rev < b.rev ? -1 : a.rev > b.rev ? 1 : a.put === b.put ? 0 : a.put ? 1 : -1));
  for (const e of events) {
    const list = liveByLease.get(e.life.lease) ?? [];
    if (!e.put) {
      liveByLease.set(
        e.life.lease,
        list.filter((l) => l !== e.life),
      );
      continue;
    }
    list.push(e.life);
    liveByLease.set(e.life.lease, list);
    if (list.length > 1 && !flagged.has(e.life)) {
      flagged.add(e.life);
      const worker = r.workerOf(e.life.lease);
      out.push(
        v(
          'orphan-key',
          `${worker} had ${list.length} contender keys at revision ${e.rev}: ` +
            list.map((l) => `${l.key} (created ${l.createRev})`).join(', '),
        ),
      );
    }
  }
  // A key no attempt was granted with must be gone soon after its attempt failed.
  const granted = new Set(
    [...r.ops.values()].flatMap((o) => [
      ...(o.acquired ? [o.acquired.token] : []),
      ...(o.entered ? [tokenOf(r, o.entered)] : []),
    ]),
  );
  for (const life of r.lives) {
    if (granted.has(life.createRev.toString()) || flagged.has(life)) continue;
    const worker = r.workerOfLease.get(life.lease);
    if (!worker || r.input.hung.includes(worker)) continue;
    const lostAt = r.byWorker
      .get(worker)
      ?.find((e) => e.ev === 'session-end' && e.lease === life.lease && e.reason !== 'SessionClosedError')?.t;
    const createdAt = r.input.revTimes.get(life.createRev);
    const goneAt =
      life.deletedAt === undefined ? Infinity : (r.input.revTimes.get(life.deletedAt) ?? Infinity);
    if (createdAt === undefined) continue;
    // the attempt that made it: the worker's attempt on that lease in progress at its creation
    const attempt = [...r.ops.values()].find(
      (o) =>
        o.worker === worker &&
        o.lease === life.lease &&
        o.start.t <= createdAt + 50 &&
        o.error !== undefined &&
        o.error.t >= createdAt - 50,
    );
    if (!attempt?.error) continue;
    const endedAt = attempt.error.t;
    if (lostAt !== undefined && lostAt < goneAt) continue; // its session died: the lease takes it
    const killedAt = r.input.faults.find((f) => f.kind === 'kill-holder' && f.worker === worker)?.t;
    if (killedAt !== undefined && killedAt >= endedAt) continue; // killed: its lease expires in TTL
    if (goneAt - endedAt > grace) {
      out.push(
        v(
          'orphan-key',
          `${worker}'s key ${life.key} (created at revision ${life.createRev}) outlived its failed attempt ` +
            `${attempt.op} (${attempt.error.name}) by ` +
            (goneAt === Infinity ? 'the whole run' : `${Math.round(goneAt - endedAt)} ms`) +
            ' while its session lived',
        ),
      );
    }
  }
  return out;
};

/** Nothing is left once every session closed. */
export const noLeaks: Property = (r) => [
  ...r.input.leftoverKeys.map((key) => v('leaked-keys', `key ${key} remained after every session closed`)),
  ...r.input.leftoverLeases.map((lease) =>
    v('leaked-leases', `lease ${hex(lease)} of ${r.workerOf(lease)} remained after every session closed`),
  ),
];

/** Every property the checker judges, by name; {@link check} runs them all. */
export const PROPERTIES = {
  exclusiveWriters,
  permitsRespected,
  tokenOrder,
  noLostUpdates,
  attribution,
  realGrants,
  noFalseSuccess,
  lossesNoticed,
  pausedHolders,
  barrierCounts,
  liveness,
  grantsNoticed,
  noOrphans,
  noLeaks,
} satisfies Record<string, Property>;

// -------------------------------------------------------------------------------------------------
// the report

function handoffStalls(r: Replay): number[] {
  const stalls: number[] = [];
  for (const [token, rev] of r.becameHolder) {
    const rec = r.acquiredByToken.get(token);
    const holder = findHolder(r.snapshots, token);
    if (!rec?.acquired || !holder || holder.createRev === rev) continue; // no wait: took a free lock
    const seen = r.input.revTimes.get(rev);
    if (seen === undefined) continue;
    stalls.push(Math.max(0, rec.acquired.t - seen));
  }
  return stalls.sort((a, b) => a - b);
}

export function check(input: CheckInput): ScenarioReport {
  const r = replay(input);
  const violations = Object.values(PROPERTIES).flatMap((property) => property(r));
  const stalls = handoffStalls(r);
  let maxFailover = 0;
  for (const f of input.faults) {
    if (f.kind !== 'kill-holder' && f.kind !== 'pause-holder') continue;
    const next = input.events.find((e) => e.ev === 'acquired' && e.t > f.t && e.w !== f.worker);
    if (next) maxFailover = Math.max(maxFailover, next.t - f.t);
  }
  const allWrites = [...r.ops.values()].flatMap((o) => o.writes);
  const lock = isLock(r);
  const writesInHistory = lock
    ? Math.max(0, r.registerWrites.length - 1)
    : r.slotWrites.filter((w) => w.type === 'put').length;
  const finalCount = lock ? (r.registerWrites.at(-1)?.value.count ?? 0) : undefined;
  return {
    scenario: input.scenario,
    kind: input.kind,
    unguarded: input.unguarded,
    workers: input.workers,
    durationMs: Math.round(input.durationMs),
    acquisitions: [...r.ops.values()].filter((o) => o.acquired ?? o.entered).length,
    sessionsLost: input.events.filter((e) => e.ev === 'session-end' && e.reason !== 'SessionClosedError')
      .length,
    writes: {
      ok: allWrites.filter((w) => w.outcome === 'ok').length,
      failed: allWrites.filter((w) => w.outcome === 'failed').length,
      unknown: allWrites.filter((w) => w.outcome === 'unknown').length,
      inHistory: writesInHistory,
    },
    faults: input.faults,
    pauses: pauseOutcomes(r).map((p) => p.outcome),
    violations,
    maxHandoffStallMs: Math.round(stalls.at(-1) ?? 0),
    medianHandoffStallMs: Math.round(stalls[Math.floor(stalls.length / 2)] ?? 0),
    handoffs: stalls.length,
    maxFailoverMs: Math.round(maxFailover),
    keysLeaked: input.leftoverKeys.length,
    leasesLeaked: input.leftoverLeases.length,
    maxConcurrentHolders: r.maxConcurrent,
    permits: input.permits,
    zombieReads: grantsAtRead(r).zombieReads,
    ...(finalCount !== undefined ? { finalCount } : {}),
    errors: r.errors,
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
