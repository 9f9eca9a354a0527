import type { Observable } from 'rxjs';
import type { LeaderInfo } from '../../src/index.js';
import { eventually } from '../support/clients.js';

/** Everything an observable emitted so far, and whether it errored or completed. */
export interface Recording<T> {
  values: T[];
  error: unknown;
  completed: boolean;
  stop(): void;
  /** Resolves once `predicate` holds for the values recorded so far. */
  until(predicate: (values: T[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
}

export function record<T>(source: Observable<T>): Recording<T> {
  const rec: Recording<T> = {
    values: [],
    error: undefined,
    completed: false,
    stop: () => {
      subscription.unsubscribe();
    },
    until: (predicate, what, timeoutMs = 10_000) =>
      eventually(
        () => {
          if (rec.error !== undefined) throw rec.error as Error;
          return predicate(rec.values);
        },
        timeoutMs,
        what,
      ),
  };
  const subscription = source.subscribe({
    next: (v) => rec.values.push(v),
    error: (err: unknown) => (rec.error = err),
    complete: () => (rec.completed = true),
  });
  return rec;
}

/** The value of each emission, `null` for "no leader". */
export const valuesOf = (infos: (LeaderInfo | null)[]) => infos.map((i) => (i === null ? null : i.value));

/** Checks the observe() contract on a recording: revision order and no state reported twice. */
export function expectWellOrdered(infos: (LeaderInfo | null)[]): void {
  let last: LeaderInfo | null | undefined;
  for (const info of infos) {
    if (last !== undefined) {
      if (info === null && last === null) throw new Error('null reported twice in a row');
      if (info !== null && last !== null) {
        if (info.createRevision < last.createRevision) throw new Error('a term went backwards');
        if (info.createRevision === last.createRevision && info.modRevision <= last.modRevision) {
          throw new Error(`state of ${info.key} at ${info.modRevision} reported after ${last.modRevision}`);
        }
      }
    }
    last = info;
  }
}
