import { InvalidArgumentError } from '../errors.js';
import { describe } from '../etcd/validate.js';
import type { Session } from './session.js';

/** `session` must be a Session. */
export function validateSession(session: unknown, what: string): asserts session is Session {
  const s = session as Partial<Session> | null | undefined;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.leaseId !== 'string' ||
    !(s.signal instanceof AbortSignal)
  ) {
    throw new InvalidArgumentError(
      `${what} needs a Session, got ${describe(session)}: pass await Session.create(client)`,
    );
  }
}
