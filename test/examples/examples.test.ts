import { describe, expect, it } from 'vitest';
import { useEtcd } from '../support/clients.js';
import { runTs, useSpawn } from '../support/spawn.js';

/**
 * Every example runs as a user runs it (`npx tsx examples/<name>.ts`, endpoints from
 * ETCD_ENDPOINTS) against the tests' shared etcd, prints what its comments promise, exits 0 by
 * itself and leaves no key behind (each example keeps its keys under `examples/<name>/<pid>`).
 */
const etcd = useEtcd();
useSpawn();

async function runExample(name: string): Promise<string> {
  const run = runTs(`examples/${name}.ts`);
  const { code, stdout, stderr } = await run.exit(25_000);
  expect(stderr, stdout).toBe('');
  expect(code).toBe(0);
  const left = await etcd.client().getAll().prefix(`examples/${name}/${run.child.pid}`).keys();
  expect(left).toEqual([]);
  return stdout;
}

/** The numbers captured by `pattern` in every line that matches it. */
function numbers(output: string, pattern: RegExp): number[] {
  return [...output.matchAll(new RegExp(pattern, 'g'))].map((m) => Number(m[1]));
}

describe('examples', { timeout: 60_000 }, () => {
  it('kv.ts: put/get/delete with previous values and count-only reads', async () => {
    const out = await runExample('kv');
    expect(out).toMatch(/put color=red at revision \d+/);
    expect(out).toContain('put color=blue, previous value: red');
    expect(out).toContain('get color -> blue');
    expect(out).toContain('get --prefix -> color=blue, shape=round, size=XL');
    expect(out).toContain('count under prefix: 3');
    expect(out).toContain('deleted color=blue');
    expect(out).toContain('get color after delete -> null');
    expect(out).toContain('deleted 2 more keys; count now 0');
  });

  it('watch.ts: a watch from a past revision replays puts and deletes, then streams live ones', async () => {
    const out = await runExample('watch');
    const events = out.split('\n').filter((l) => /^ {2}(put|delete) /.test(l));
    expect(events.map((l) => l.trim().split(/\s+/).slice(0, 2).join(' '))).toEqual([
      'put a=1',
      'put b=2',
      'delete a',
      'put c=3',
      'delete b',
    ]);
    const revisions = numbers(out, /at revision (\d+)/);
    expect(revisions).toHaveLength(5);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(revisions[0]).toBe(numbers(out, /from revision (\d+)/)[0]);
    expect(out).toContain('saw 5 events: 3 replayed from history, 2 live');
  });

  it('lease.ts: a key on an unrenewed lease expires with it', async () => {
    const out = await runExample('lease');
    expect(out).toMatch(/granted lease [0-9a-f]+ with TTL \d+ s/);
    expect(out).toMatch(/key attached; lease has \d+ s left and 1 key\(s\)/);
    expect(out).toContain('get -> alive');
    expect(out).toMatch(/lease expired after about \d+ s; get -> null/);
    expect(out).toContain('lease TTL now -1');
  });

  it('keep-alive.ts: a session keeps its key alive past the TTL; closing removes it', async () => {
    const out = await runExample('keep-alive');
    expect(out).toMatch(/session lease [0-9a-f]+, TTL 2 s/);
    expect(out).toContain('session is alive');
    expect(out).toContain('after 4 s (2 × TTL): renewed several times; key still there: true');
    expect(out).toContain('session is closed');
    expect(out).toContain('closed; key still there: false');
  });

  it('txn-try-lock.ts: if create revision = 0 then put with lease, else report the holder', async () => {
    const out = await runExample('txn-try-lock');
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^alice: got the lock at revision (\d+)$/);
    const since = numbers(out, /alice: got the lock at revision (\d+)/)[0];
    expect(lines[1]).toMatch(
      new RegExp(`^bob: lock is held by alice \\(lease [0-9a-f]+, since revision ${since}\\)$`),
    );
    expect(lines[2]).toBe('alice: released (lease revoked)');
    expect(lines[3]).toMatch(/^bob: got the lock at revision \d+$/);
  });

  it('mutex.ts: two sessions take turns; tokens grow; tryLock names the holder', async () => {
    const out = await runExample('mutex');
    const holders = [...out.matchAll(/(\w+) holds the lock, fencing token (\d+)/g)].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    expect(holders.map(([who]) => who)).toEqual(['alice', 'bob']);
    expect(Number(holders[1]![1])).toBeGreaterThan(Number(holders[0]![1]));
    expect(out).toMatch(/bob's tryLock: Mutex ".*" is held by lease [0-9a-f]+ \(value "alice"\)/);
    // bob holds only after alice released
    expect(out.indexOf('alice releases')).toBeLessThan(out.indexOf('bob holds the lock'));
    expect(out.match(/wrote under the lock: committed/g)).toHaveLength(2);
  });

  it('leader-election.ts: workers lead one after another, each term higher', async () => {
    const out = await runExample('leader-election');
    const terms = numbers(out, /worker-\d leads, term (\d+)/);
    expect(terms).toHaveLength(3);
    expect(terms).toEqual([...terms].sort((a, b) => a - b));
    expect(new Set(out.match(/worker-\d leads/g))).toEqual(
      new Set(['worker-1 leads', 'worker-2 leads', 'worker-3 leads']),
    );
    expect(out).toMatch(/observed: worker-\d, round 3/);
    expect(out.trim().split('\n').at(-1)).toContain('observed: no leader');
  });

  it('semaphore-pool.ts: never more GPUs in use than permits, jobs start in order', async () => {
    const out = await runExample('semaphore-pool');
    const used = numbers(out, /in use (\d+)\/3/);
    expect(used.length).toBeGreaterThan(0);
    expect(Math.max(...used)).toBeLessThanOrEqual(3);
    // FIFO: jobs start in queue order, i.e. in the order of their keys' create revisions
    // (their fencing tokens), whatever order the scheduler let them ask in.
    const tokens = numbers(out, /job-\d starts on \d GPU\(s\), fencing token (\d+)/);
    expect(tokens).toHaveLength(8);
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    expect(out.match(/job-\d done/g)).toHaveLength(8);
  });

  it('bank-transfer.ts: concurrent STM transfers keep the total; a hopeless one gives up typed', async () => {
    const out = await runExample('bank-transfer');
    expect(out.match(/^moved \d+ from \w+ to \w+ \(\d+ attempt\(s\)\)$/gm)).toHaveLength(10);
    expect(out).toMatch(/^total: 500 \(conflicts retried: \d+\)$/m);
    const balances = numbers(out, /=(\d+)/);
    expect(balances).toHaveLength(5);
    expect(balances.reduce((a, b) => a + b, 0)).toBe(500);
    expect(out).toContain('hopeless transaction: StmConflictError after 3 attempts');
  });

  it('job-pool.ts: a worker SIGKILLed mid-job; its job is delivered again; every job done', async () => {
    const out = await runExample('job-pool');
    const killed = /killed worker 1 while it held (job-\d+)/.exec(out)?.[1];
    expect(killed).toBeDefined();
    expect(out).toMatch(new RegExp(`worker [23] took ${killed} \\(delivered again\\)`));
    expect(out).toContain(`all 12 jobs done; ${killed} was finished 1 time(s) after the crash`);
    expect(out).toContain('keys left in etcd: 0');
  });
});
