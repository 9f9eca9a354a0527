import { describe, expect, it } from 'vitest';
import { uniquePrefix } from '../support/prefix.js';
import { runTs, useSpawn } from '../support/spawn.js';

useSpawn();

const CHILD = 'test/diagnostics/fixtures/lock-twice.ts';

describe('NODE_DEBUG=etcd-concurrency', () => {
  it('logs each event on one stderr line: the event, then its fields, never a key value', async () => {
    const name = `${uniquePrefix('diag')}lock`;
    const run = await runTs(CHILD, [name], { NODE_DEBUG: 'etcd-concurrency' }).exit(20_000);
    expect(run.code).toBe(0);
    const { a, b } = JSON.parse(run.stdout.trim()) as { a: string; b: string };
    const lines = run.stderr.split('\n').filter((l) => l.includes(JSON.stringify(name)));
    const eventsOf = (lease: string) =>
      lines
        .filter((l) => l.includes(` leaseId="${lease}" `))
        .map((l) => /^ETCD-CONCURRENCY \d+: (\w+) /.exec(l)?.[1]);
    // Each session's events in order (the two sessions' lines may interleave either way).
    expect(eventsOf(a)).toEqual(['acquire', 'release']);
    expect(eventsOf(b)).toEqual(['wait', 'wait', 'acquire', 'release']);
    expect(lines).toHaveLength(6);
    const [acquireA] = lines.filter((l) => l.includes(`leaseId="${a}"`));
    const [waitStart, waitEnd, acquireB] = lines.filter((l) => l.includes(`leaseId="${b}"`));
    expect(acquireA).toMatch(
      new RegExp(
        `^ETCD-CONCURRENCY \\d+: acquire primitive="mutex" name="${name}" key="${name}/[0-9a-f]+" ` +
          `leaseId="${a}" createRevision=\\d+ durationMs=\\d+(\\.\\d)? contended=false created=true revision=\\d+$`,
      ),
    );
    expect(waitStart).toMatch(new RegExp(`wait primitive="mutex" .*leaseId="${b}" .*phase="start" ahead=1 `));
    expect(waitEnd).toMatch(/ phase="end" outcome="acquired" durationMs=\d+(\.\d)?$/);
    expect(acquireB).toMatch(/ contended=true /);
    expect(run.stderr).not.toContain('value-not-logged');
  });

  it('logs nothing without NODE_DEBUG', async () => {
    const run = await runTs(CHILD, [`${uniquePrefix('diag')}lock`]).exit(20_000);
    expect(run.code).toBe(0);
    expect(run.stderr).not.toContain('ETCD-CONCURRENCY');
  });
});
