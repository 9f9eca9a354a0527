/**
 * What the vitest chaos files assert about a scenario's report: safety, never speed.
 */
import { expect } from 'vitest';
import { summaryLine } from './checker.js';
import type { ScenarioSpec } from './scenario.js';
import type { ScenarioReport } from './types.js';

/** A guarded scenario: no violation of any kind, the faults really happened, nothing leaked. */
export function expectSafe(report: ScenarioReport, spec: ScenarioSpec): void {
  console.log(summaryLine(report));
  expect(report.violations, summaryLine(report)).toEqual([]);
  expect(report.keysLeaked).toBe(0);
  expect(report.leasesLeaked).toBe(0);
  expect(report.acquisitions).toBeGreaterThan(0);
  expect(report.writes.inHistory).toBeGreaterThan(0);
  if (spec.fault) {
    const effective = report.faults.filter((f) => !f.note?.startsWith('missed'));
    expect(effective.length, `faults injected: ${JSON.stringify(report.faults)}`).toBeGreaterThanOrEqual(
      spec.fault.count,
    );
  }
  if (spec.fault?.kind === 'pause-holder') {
    // The Jepsen scenario happened and was survived: the holder slept through its lease, learnt of
    // the loss from hold.signal on waking, and its late guarded write was refused by etcd.
    const late = report.pauses.filter((p) => p.expiredDuringPause && p.lateWrite !== 'none');
    expect(late.length, JSON.stringify(report.pauses)).toBeGreaterThan(0);
    for (const p of late) {
      expect(p.lateWrite).toBe('failed');
      expect(p.signalled).toBeDefined();
    }
  }
}

/** The negative control: the same run with unguarded writes must be caught. */
export function expectFlagged(report: ScenarioReport): void {
  console.log(`${summaryLine(report)}  <- negative control`);
  const kinds = new Set(report.violations.map((v) => v.kind));
  expect(kinds.has('lost-update') || kinds.has('overlapping-writers'), summaryLine(report)).toBe(true);
}
