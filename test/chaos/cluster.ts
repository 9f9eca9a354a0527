/**
 * etcd flags for chaos runs, appended to the harness' own: no auto-compaction (the checker replays
 * the whole history of the run) and a raft snapshot every 100 entries, as Jepsen runs etcd, so that
 * restarted members recover from snapshots as well as from the log.
 */
export const CHAOS_ETCD_ARGS = ['--auto-compaction-retention', '0', '--snapshot-count', '100'];
