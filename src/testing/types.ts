import type { Etcd3 } from 'etcd3';
import type { ClientOptions } from '../etcd/client.js';

/** PEM files of a TLS etcd; `ca`, `cert` and `key` are what a client needs (etcdctl's flags). */
export interface EtcdTlsFiles {
  /** The directory holding them (the cluster's temp dir). */
  dir: string;
  /** CA that signed both the server and the client certificate (`--cacert`). */
  ca: string;
  /** Client certificate (`--cert`); its CN is no etcd user, so it authenticates nobody by itself. */
  cert: string;
  /** Client private key (`--key`). */
  key: string;
  /** The members' certificate (SAN 127.0.0.1 and localhost). */
  serverCert: string;
  /** The members' private key. */
  serverKey: string;
}

/** A user name and its password. */
export interface EtcdCredentials {
  username: string;
  password: string;
}

/** Users and the role that `auth` set up. Passwords are random per cluster. */
export interface EtcdAuth {
  /** The root user (may do everything). */
  root: EtcdCredentials;
  /** A user whose only role grants readwrite on {@link prefix}. */
  user: EtcdCredentials;
  /** The role of {@link user}. */
  role: string;
  /** The prefix the user may read and write, e.g. `app/`. */
  prefix: string;
}

/** How `auth` is set up (see {@link StartEtcdOptions.auth}). */
export interface AuthSetupOptions {
  /**
   * Prefix the limited user may read and write.
   * @default 'app/'
   */
  prefix?: string;
  /**
   * Name of the limited user.
   * @default 'app-user'
   */
  username?: string;
  /**
   * Tokens expire after this many seconds, to test token renewal: simple tokens after that long
   * unused on a member (`--auth-token simple --auth-token-ttl`), JWTs that long after issue.
   * @default etcd's own (simple tokens, 300 s)
   */
  tokenTtlSeconds?: number;
  /**
   * `simple` (etcd's default) or `jwt` (signed with an RSA key made for the cluster).
   * @default 'simple'
   */
  tokenType?: 'simple' | 'jwt';
}

/** One etcd process of an {@link EtcdCluster}, with the controls fault-injection tests need. */
export interface EtcdMember {
  /** `m1`, `m2`, … */
  name: string;
  /** `http://127.0.0.1:PORT` (`https://` with `tls`) */
  clientUrl: string;
  /** `http://127.0.0.1:PORT` */
  peerUrl: string;
  /** The member's data directory, inside the cluster's temp dir. */
  dataDir: string;
  /** PID of the currently running etcd process; undefined while the member is not running. */
  readonly pid: number | undefined;
  /** Whether the process runs (a paused one runs). */
  readonly running: boolean;
  /**
   * Sends `signal` (SIGKILL, i.e. a crash; SIGTERM is a graceful stop, in which a leader hands
   * leadership over first) and waits for the process to exit (escalating to SIGKILL after 10 s).
   * No-op when not running.
   * @param signal @default 'SIGKILL'
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Restarts with the same data dir, ports and flags; resolves once `/health` reports healthy. */
  start(): Promise<void>;
  /** Kills the member and deletes its data dir (single-node clusters only); start() then gives an empty etcd. */
  wipe(): Promise<void>;
  /** SIGSTOP: the process freezes (sockets stay open, nothing answers). */
  pause(): void;
  /** SIGCONT: undoes {@link pause}. */
  resume(): void;
}

/**
 * A private etcd started by {@link startEtcd}: its endpoints, clients that it closes when it
 * stops, and its members.
 */
export interface EtcdCluster {
  /** `http://127.0.0.1:PORT`, one per member (`https://` with `tls`). */
  endpoints: string[];
  /** The members, for fault injection (a Docker-run etcd supports none of their controls). */
  members: EtcdMember[];
  /**
   * A client of this etcd (`createClient` with its endpoints, its TLS files and, with `auth`, the
   * root user; `options` override them). Closed by {@link stop}.
   * @example
   * ```ts
   * const kv = etcd.client();
   * await kv.put('k').value('v');
   * ```
   */
  client(options?: ClientOptions): Etcd3;
  /** Waits (up to 15 s) until all reachable running members agree on a leader that is itself running. */
  leader(): Promise<EtcdMember>;
  /** Closes the clients from {@link client}, kills every member by PID and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** With `tls: true`: the CA, client certificate and key (file paths) a client needs. */
  tls?: EtcdTlsFiles;
  /** With `auth`: the root user, and a user limited to one prefix (random passwords). */
  auth?: EtcdAuth;
  /** {@link stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@link startEtcd}. */
export interface StartEtcdOptions {
  /**
   * A single node, or a 3-member cluster (which needs the `etcd` binary: no Docker fallback).
   * @default 1
   */
  members?: 1 | 3;
  /** etcd flags appended after the harness' own (for etcd's flag parser the last occurrence wins). */
  extraArgs?: string[];
  /**
   * How long start-up (and each member's start()) may take before failing, in milliseconds.
   * @default 15000
   */
  startTimeoutMs?: number;
  /**
   * Serve clients over TLS (`https://` endpoints) with certificates generated for this cluster
   * (needs `openssl`), and require a client certificate (`--client-cert-auth`). Peers still talk
   * plain http.
   * @default false
   */
  tls?: boolean;
  /**
   * Enable authentication once the cluster is up: a root user, a role with readwrite on one
   * prefix and a user with that role (see {@link EtcdCluster.auth}); optionally short-lived tokens.
   * @default false
   */
  auth?: boolean | AuthSetupOptions;
  /**
   * The peer URL each member advertises to the others, given the one it listens on: return the
   * address of a proxy in front of it to cut raft traffic between members (a partition) in a test.
   * Process clusters only. {@link EtcdMember.peerUrl} stays the URL the member listens on.
   * @default the listening URL itself
   */
  advertisePeerUrl?: (member: { name: string; peerUrl: string }) => string | Promise<string>;
}
