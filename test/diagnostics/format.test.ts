import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HoldLostError,
  SessionClosedError,
  SessionExpiredError,
  subscribeDiagnostics,
} from '../../src/index.js';
import { errorName, formatLine, listening, sessionEnded } from '../../src/diagnostics/publish.js';
import { lossCause } from '../../src/queue/trace.js';

describe('NODE_DEBUG line format', () => {
  it('is one line for any field values, names with newlines included', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string(),
          fc.oneof(fc.string(), fc.double(), fc.bigInt(), fc.boolean(), fc.constant(undefined)),
        ),
        (fields) => {
          const line = formatLine('acquire', fields);
          expect(line).not.toMatch(/[\n\r]/);
          expect(line.startsWith('acquire')).toBe(true);
        },
      ),
    );
  });

  it('quotes strings, prints revisions in decimal and times to 0.1 ms, and leaves out undefined fields', () => {
    expect(
      formatLine('release', {
        name: 'locks/a b',
        createRevision: 12345678901234567890n,
        durationMs: 3.14159,
        rttMs: undefined,
        ahead: 2,
      }),
    ).toBe('release name="locks/a b" createRevision=12345678901234567890 durationMs=3.1 ahead=2');
  });
});

describe('payload building', () => {
  it('is skipped while a channel has no subscriber', () => {
    expect(listening('acquire')).toBe(false);
    const stop = subscribeDiagnostics('acquire', () => undefined);
    expect(listening('acquire')).toBe(true);
    expect(listening('release')).toBe(false);
    stop();
    expect(listening('acquire')).toBe(false);
  });

  it('names errors by name, or by class for errors named just "Error" (as etcd3 makes them)', () => {
    class GRPCUnavailableError extends Error {}
    expect(errorName(new GRPCUnavailableError('14 UNAVAILABLE'))).toBe('GRPCUnavailableError');
    expect(errorName(new DOMException('x', 'AbortError'))).toBe('AbortError');
    expect(errorName(new HoldLostError('k'))).toBe('HoldLostError');
    expect(errorName('oops')).toBe('string');
  });
});

describe('loss causes', () => {
  it('tells a deleted key, a closed session and the recorded cause of a lost session apart', () => {
    expect(lossCause(new HoldLostError('k'))).toBe('key-deleted');
    expect(lossCause(new SessionClosedError('1'))).toBe('session-closed');
    const revoked = new SessionExpiredError('1', 'revoked');
    sessionEnded('1', 10, 'lost', revoked, 'revoked');
    expect(lossCause(revoked)).toBe('revoked');
    const expired = new SessionExpiredError('1', 'late');
    sessionEnded('1', 10, 'lost', expired, undefined);
    expect(lossCause(expired)).toBe('session-expired');
    expect(lossCause(new Error('watch refused'))).toBe('error');
  });
});
