/**
 * The CLI's exit statuses. `lock -- command` passes the command's own status through (128+N if
 * a signal N ended it), so the CLI's own statuses avoid those a command commonly returns: 1 and
 * 2 (failures and usage errors, as for most tools), 126 and 127 (the shell's "cannot run" and
 * "not found") and 128+N. The two lock outcomes an operator must tell apart from the command's
 * own failure sit in the sysexits(3) band, which ordinary commands do not use; a line on stderr
 * (and a `--json` note) says which one happened in every case, so even a command that does
 * return 75 or 76 cannot be mistaken for them.
 */
export const EXIT = {
  /** Done; `lock -- command`: the command ran under the lock and exited 0. */
  ok: 0,
  /** The operation failed (etcd unreachable, permission denied …): one line on stderr says why. */
  failed: 1,
  /** Bad arguments: one line on stderr says which. */
  usage: 2,
  /**
   * `lock`: the lock was not acquired, so the command never started: `--try` found it held, or
   * `--timeout` passed first (sysexits' EX_TEMPFAIL: try again later).
   */
  notAcquired: 75,
  /**
   * `lock`: the lock was lost while the command ran (lease expired, key deleted): the command
   * was stopped, and its work may not all have been done under the lock.
   */
  lockLost: 76,
} as const;
