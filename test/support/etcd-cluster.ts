/**
 * Real-etcd processes for tests, the demo, the benchmark and CI scripts, without vitest: importable
 * from plain Node (tsx) as well as from test files. `test/support/etcd.ts` re-exports all of it and
 * adds the vitest-only {@link sharedEtcdEndpoints}.
 *
 * - {@link startEtcd} starts a PRIVATE etcd (1 or 3 members) on free loopback ports in a fresh temp dir.
 *   Members can be killed, restarted, wiped, paused and resumed, for fault-injection tests.
 * - {@link ensureEtcdBinary} finds (or, as root on Debian/Ubuntu, installs) the `etcd` binary.
 *
 * Child processes are only ever signalled by PID. Every etcd child is SIGKILLed synchronously from a
 * process 'exit' hook, and additionally watched by a tiny `sh` watchdog that SIGKILLs it when the Node
 * process that started it disappears without running 'exit' hooks (e.g. a vitest fork that is SIGTERMed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, constants as fsConstants, existsSync, openSync, rmSync, writeSync } from 'node:fs';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AuthSetupOptions,
  type EtcdAuth,
  type EtcdTlsFiles,
  authServerArgs,
  enableAuth,
  generateTlsFiles,
  grpcMemberStatus,
  requestJson,
  tlsServerArgs,
} from './secure-etcd.js';

export type { AuthSetupOptions, EtcdAuth, EtcdCredentials, EtcdTlsFiles } from './secure-etcd.js';

export interface EtcdMember {
  name: string;
  /** `http://127.0.0.1:PORT` */
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  /** PID of the currently running etcd process; undefined while the member is not running. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /**
   * Sends `signal` (default SIGKILL, i.e. a crash; SIGTERM is a graceful stop, in which a leader hands
   * leadership over first) and waits for the process to exit (escalating to SIGKILL after 10 s).
   * No-op when not running.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Restarts with the same data dir, ports and flags; resolves once `/health` reports healthy. */
  start(): Promise<void>;
  /** Kills the member and deletes its data dir (single-node clusters only); start() then gives an empty etcd. */
  wipe(): Promise<void>;
  /** SIGSTOP: the process freezes (sockets stay open, nothing answers). */
  pause(): void;
  /** SIGCONT */
  resume(): void;
}

export interface EtcdCluster {
  /** `http://127.0.0.1:PORT`, one per member */
  endpoints: string[];
  members: EtcdMember[];
  /** Waits (up to 15 s) until all reachable running members agree on a leader that is itself running. */
  leader(): Promise<EtcdMember>;
  /** Kills every member by PID and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** With `tls: true`: the CA, client certificate and key (file paths) a client needs. */
  tls?: EtcdTlsFiles;
  /** With `auth`: the root user, and a user limited to one prefix (random passwords). */
  auth?: EtcdAuth;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface StartEtcdOptions {
  members?: 1 | 3;
  /** Appended after the harness' own flags (for etcd's flag parser the last occurrence wins). */
  extraArgs?: string[];
  /** How long start-up (and each member's start()) may take before failing; default 15000 ms. */
  startTimeoutMs?: number;
  /**
   * Serve clients over TLS (`https://` endpoints) with certificates generated for this cluster,
   * and require a client certificate (`--client-cert-auth`). Peers still talk plain http.
   */
  tls?: boolean;
  /**
   * Enable authentication once the cluster is up: a root user, a role with readwrite on one
   * prefix and a user with that role (see {@link EtcdCluster.auth}); optionally short-lived tokens.
   */
  auth?: boolean | AuthSetupOptions;
}

const DEFAULT_START_TIMEOUT_MS = 15_000;
const KILL_ESCALATION_MS = 10_000;
const LEADER_TIMEOUT_MS = 15_000;
const DOCKER_IMAGE = 'quay.io/coreos/etcd:v3.5.21';

/** Fast-loopback raft timing: elections after ~0.5-1 s instead of the default 1-2 s. */
const TIMING_ARGS = ['--heartbeat-interval', '50', '--election-timeout', '500'];
const LOG_ARGS = ['--logger', 'zap', '--log-level', 'warn'];

// ---------------------------------------------------------------------------------------------------------
// process bookkeeping

const liveChildren = new Set<ChildProcess>();
/** temp dirs of clusters not stopped yet */
const liveTmpDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of liveChildren) {
      if (c.pid !== undefined) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const dir of liveTmpDirs) {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
      } catch {
        // best effort
      }
    }
  });
}

function track(child: ChildProcess): void {
  installExitHook();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

function isAlive(child: ChildProcess | undefined): child is ChildProcess {
  return (
    child !== undefined && child.pid !== undefined && child.exitCode === null && child.signalCode === null
  );
}

/** $1: our pid, $2: etcd pid, $3: the cluster's temp dir */
const WATCHDOG_SCRIPT =
  'while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -9 "$2" 2>/dev/null; sleep 1; [ -n "$3" ] && rm -rf "$3"; exit 0';

/**
 * SIGKILLs etcd `pid` (and removes `tmpDir`) once this Node process is gone without running its 'exit' hooks,
 * e.g. a vitest fork that got SIGTERM. Killed by PID itself whenever the member is stopped normally.
 */
function spawnWatchdog(pid: number, tmpDir: string): ChildProcess | undefined {
  try {
    const args = ['-c', WATCHDOG_SCRIPT, 'etcd-watchdog', String(process.pid), String(pid), tmpDir];
    const watchdog = spawn('sh', args, { stdio: 'ignore', detached: true });
    watchdog.on('error', () => undefined);
    watchdog.unref();
    track(watchdog);
    return watchdog;
  } catch {
    return undefined;
  }
}

function killQuietly(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  const pid = child?.pid;
  if (pid !== undefined && isAlive(child)) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** The etcd child must not see ETCD_* variables: etcd reads them as flags and aborts on conflicts. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('ETCD_') || k === 'ETCD_UNSUPPORTED_ARCH') env[k] = v;
  }
  return env;
}

async function logTail(file: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
    return tail.length > 0 ? tail : '(log is empty)';
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------------------------------------------------
// finding / installing etcd

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(name = 'etcd'): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of [...dirs, '/usr/bin', '/usr/local/bin']) {
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    process.stderr.write(`[etcd harness] $ ${[cmd, ...args].join(' ')}\n`);
    const child = spawn(cmd, args, {
      stdio: ['ignore', 2, 2],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.on('error', (err) => {
      process.stderr.write(`[etcd harness] ${cmd} failed: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (code) => {
      resolve(code ?? 1);
    });
  });
}

let ensureBinaryPromise: Promise<string | undefined> | undefined;

/**
 * Path of an `etcd` binary: `$ETCD_BIN` if set (used as is: never searched further nor installed), else the
 * first `etcd` on PATH, /usr/bin or /usr/local/bin. When there is none and we run as root on Debian/Ubuntu,
 * installs the `etcd-server` package with apt-get (logging to stderr) first. Undefined if there is still none.
 * The result is cached per process.
 */
export function ensureEtcdBinary(): Promise<string | undefined> {
  ensureBinaryPromise ??= (async () => {
    const fromEnv = process.env.ETCD_BIN;
    if (fromEnv) {
      if (await isExecutable(fromEnv)) return fromEnv;
      process.stderr.write(`[etcd harness] ETCD_BIN=${fromEnv} is not an executable file\n`);
      return undefined;
    }
    const found = await findOnPath();
    if (found) return found;
    const isRoot = process.getuid?.() === 0;
    if (isRoot && existsSync('/etc/debian_version')) {
      process.stderr.write(
        '[etcd harness] no etcd binary found; installing the Debian packages etcd-server and etcd-client\n',
      );
      await aptInstall();
      return findOnPath();
    }
    return undefined;
  })();
  return ensureBinaryPromise;
}

let aptPromise: Promise<void> | undefined;

/** `apt-get install etcd-server etcd-client` (etcd and etcdctl come together), once per process. */
function aptInstall(): Promise<void> {
  aptPromise ??= (async () => {
    if ((await run('apt-get', ['update'])) === 0) {
      await run('apt-get', ['install', '-y', '--no-install-recommends', 'etcd-server', 'etcd-client']);
    }
  })();
  return aptPromise;
}

let ensureEtcdctlPromise: Promise<string> | undefined;

/**
 * Path of `etcdctl` (`$ETCDCTL_BIN`, else PATH), installing Debian's `etcd-client` as root when it is
 * missing. Rejects with what to do when there is none: the interop tests need it and never skip.
 */
export function ensureEtcdctl(): Promise<string> {
  ensureEtcdctlPromise ??= (async () => {
    const fromEnv = process.env.ETCDCTL_BIN;
    if (fromEnv) {
      if (await isExecutable(fromEnv)) return fromEnv;
      throw new Error(`ETCDCTL_BIN=${fromEnv} is not an executable file`);
    }
    let found = await findOnPath('etcdctl');
    if (!found && process.getuid?.() === 0 && existsSync('/etc/debian_version')) {
      process.stderr.write('[etcd harness] no etcdctl found; installing the Debian package etcd-client\n');
      await aptInstall();
      found = await findOnPath('etcdctl');
    }
    if (!found) {
      throw new Error(
        'etcdctl is needed by the interop tests: `sudo apt-get install -y etcd-client` (Debian/Ubuntu), ' +
          'or point ETCDCTL_BIN at an etcdctl binary',
      );
    }
    return found;
  })();
  return ensureEtcdctlPromise;
}

function noEtcdError(reason: string): Error {
  return new Error(
    `Cannot start etcd for the tests: ${reason}.\n` +
      'Do one of:\n' +
      '  - install etcd: `sudo apt-get install -y etcd-server` (Debian/Ubuntu), or put an `etcd` binary from\n' +
      '    https://github.com/etcd-io/etcd/releases on PATH (or point ETCD_BIN at it);\n' +
      '  - use an etcd you already run: ETCD_ENDPOINTS=http://127.0.0.1:2379 npm test\n' +
      '    (fault-injection tests that start private clusters still need the binary);\n' +
      `  - start a Docker engine: a single node then runs in ${DOCKER_IMAGE}.`,
  );
}

// ---------------------------------------------------------------------------------------------------------
// health

/** `a:1,http://b:2` -> `['http://a:1', 'http://b:2']` */
export function parseEndpoints(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `http://${s}`).replace(/\/+$/, ''));
}

async function isHealthy(clientUrl: string, timeoutMs = 1000, tls?: EtcdTlsFiles): Promise<boolean> {
  if (tls) {
    try {
      const { status, json } = await requestJson(`${clientUrl}/health`, { tls, timeoutMs });
      const health = (json as { health?: unknown }).health;
      return status === 200 && (health === 'true' || health === true);
    } catch {
      return false;
    }
  }
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) {
      await res.body?.cancel();
      return false;
    }
    const body = (await res.json()) as { health?: unknown };
    return body.health === 'true' || body.health === true;
  } catch {
    return false;
  }
}

/**
 * Polls `GET <clientUrl>/health` until it reports `{"health":"true"}`; throws after `timeoutMs`.
 * `tls`: the client certificate for an https endpoint that requires one.
 */
export async function waitForHealthy(
  clientUrl: string,
  timeoutMs = DEFAULT_START_TIMEOUT_MS,
  abortIf?: () => string | undefined,
  tls?: EtcdTlsFiles,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = abortIf?.();
    if (why !== undefined) throw new Error(why);
    if (await isHealthy(clientUrl, 1000, tls)) return;
    if (Date.now() >= deadline) {
      throw new Error(`etcd at ${clientUrl} did not report healthy within ${timeoutMs} ms`);
    }
    await sleep(50);
  }
}

interface StatusResponse {
  header?: { member_id?: string };
  leader?: string;
}

async function memberStatus(
  clientUrl: string,
  tls?: EtcdTlsFiles,
): Promise<{ id: string; leader: string } | undefined> {
  if (tls) return grpcMemberStatus(clientUrl, tls);
  try {
    const res = await fetch(`${clientUrl}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(1000),
    });
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    const body = (await res.json()) as StatusResponse;
    const id = body.header?.member_id;
    if (id === undefined) return undefined;
    return { id, leader: body.leader ?? '0' };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// free ports

async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
            const addr = server.address();
            if (addr !== null && typeof addr === 'object') resolve(addr.port);
            else reject(new Error('could not determine a free port'));
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => {
              resolve();
            });
          }),
      ),
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// process-backed members

interface MemberConfig {
  bin: string;
  tmpDir: string;
  logFile: string;
  startTimeoutMs: number;
  /** full etcd argv for this member */
  args: string[];
  clusterSize: number;
  /** Client certificate for health checks of an https member. */
  tls?: EtcdTlsFiles | undefined;
}

class ProcessMember implements EtcdMember {
  #child: ChildProcess | undefined;
  #watchdog: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #spawnError: Error | undefined;
  #paused = false;
  #disposed = false;

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    private readonly cfg: MemberConfig,
  ) {}

  get pid(): number | undefined {
    return isAlive(this.#child) ? this.#child.pid : undefined;
  }

  get running(): boolean {
    return isAlive(this.#child);
  }

  /** Spawns the process without waiting for health. */
  spawnProcess(): void {
    if (this.#disposed) throw new Error(`etcd member ${this.name}: the cluster was stopped`);
    if (this.running) throw new Error(`etcd member ${this.name} is already running (pid ${this.pid})`);
    const fd = openSync(this.cfg.logFile, 'a');
    let child: ChildProcess;
    try {
      writeSync(fd, `\n=== ${new Date().toISOString()} ${this.cfg.bin} ${this.cfg.args.join(' ')}\n`);
      child = spawn(this.cfg.bin, this.cfg.args, { stdio: ['ignore', fd, fd], env: childEnv() });
    } finally {
      closeSync(fd);
    }
    this.#spawnError = undefined;
    this.#paused = false;
    child.on('error', (err) => {
      this.#spawnError = err;
    });
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        killQuietly(this.#watchdog, 'SIGKILL');
        resolve();
      });
      // 'exit' is not emitted when spawning itself failed
      child.once('error', () => {
        if (child.pid === undefined) resolve();
      });
    });
    this.#child = child;
    if (child.pid !== undefined) {
      // a forgotten cluster must not keep the process alive; the 'exit' hook and the watchdog clean up
      child.unref();
      track(child);
      this.#watchdog = spawnWatchdog(child.pid, this.cfg.tmpDir);
    }
  }

  async waitHealthy(): Promise<void> {
    const child = this.#child;
    try {
      await waitForHealthy(
        this.clientUrl,
        this.cfg.startTimeoutMs,
        () => {
          if (this.#spawnError) return `could not spawn ${this.cfg.bin}: ${this.#spawnError.message}`;
          if (child && (child.exitCode !== null || child.signalCode !== null)) {
            const how = child.signalCode ?? `code ${child.exitCode}`;
            return `etcd member ${this.name} exited during start-up (${how})`;
          }
          return undefined;
        },
        this.cfg.tls,
      );
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(
        `${message}\n--- ${this.cfg.logFile} (tail) ---\n${await logTail(this.cfg.logFile)}\n---`,
        { cause: err },
      );
    }
  }

  async start(): Promise<void> {
    this.spawnProcess();
    await this.waitHealthy();
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (!isAlive(child)) return;
    child.ref();
    try {
      killQuietly(child, signal);
      if (this.#paused && signal !== 'SIGKILL' && signal !== 'SIGSTOP') killQuietly(child, 'SIGCONT');
      const escalation = setTimeout(() => {
        killQuietly(child, 'SIGKILL');
      }, KILL_ESCALATION_MS);
      await this.#exited;
      clearTimeout(escalation);
    } finally {
      this.#paused = false;
      killQuietly(this.#watchdog, 'SIGKILL');
    }
  }

  async wipe(): Promise<void> {
    if (this.cfg.clusterSize !== 1) {
      throw new Error(`wipe() is only supported for single-node clusters (member ${this.name})`);
    }
    await this.kill();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  pause(): void {
    if (!isAlive(this.#child)) throw new Error(`etcd member ${this.name} is not running`);
    killQuietly(this.#child, 'SIGSTOP');
    this.#paused = true;
  }

  resume(): void {
    if (!isAlive(this.#child)) throw new Error(`etcd member ${this.name} is not running`);
    killQuietly(this.#child, 'SIGCONT');
    this.#paused = false;
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    await this.kill('SIGKILL');
  }
}

async function findLeader<M extends { running: boolean; clientUrl: string; name: string }>(
  members: M[],
  tls?: EtcdTlsFiles,
): Promise<M> {
  const deadline = Date.now() + LEADER_TIMEOUT_MS;
  let last = '';
  for (;;) {
    const running = members.filter((m) => m.running);
    const statuses = await Promise.all(running.map((m) => memberStatus(m.clientUrl, tls)));
    const byId = new Map<string, M>();
    const leaders = new Set<string>();
    running.forEach((m, i) => {
      const s = statuses[i];
      if (s) {
        byId.set(s.id, m);
        leaders.add(s.leader);
      }
    });
    if (leaders.size === 1) {
      const [leaderId] = [...leaders];
      const leader = leaderId !== undefined ? byId.get(leaderId) : undefined;
      if (leader) return leader;
    }
    last = running.map((m, i) => `${m.name}: ${JSON.stringify(statuses[i] ?? 'unreachable')}`).join(', ');
    if (Date.now() >= deadline) {
      throw new Error(
        `no agreed-on, running etcd leader within ${LEADER_TIMEOUT_MS} ms (${last || 'no members'})`,
      );
    }
    await sleep(50);
  }
}

class ProcessCluster implements EtcdCluster {
  readonly endpoints: string[];
  auth?: EtcdAuth;
  #stopping: Promise<void> | undefined;

  constructor(
    readonly members: ProcessMember[],
    private readonly tmpDir: string,
    readonly tls?: EtcdTlsFiles,
  ) {
    this.endpoints = members.map((m) => m.clientUrl);
  }

  leader(): Promise<EtcdMember> {
    return findLeader(this.members, this.tls);
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await Promise.all(this.members.map((m) => m.dispose()));
      await rm(this.tmpDir, { recursive: true, force: true });
      liveTmpDirs.delete(this.tmpDir);
    })();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

async function startProcessCluster(bin: string, opts: StartEtcdOptions): Promise<ProcessCluster> {
  const size = opts.members ?? 1;
  const startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'etcd-test-'));
  installExitHook();
  liveTmpDirs.add(tmpDir);
  const maxAttempts = 3;
  const authOptions: AuthSetupOptions | undefined =
    opts.auth === true ? {} : opts.auth === false ? undefined : opts.auth;
  let tls: EtcdTlsFiles | undefined;
  let authArgs: string[] = [];
  try {
    tls = opts.tls ? await generateTlsFiles(tmpDir) : undefined;
    if (authOptions) authArgs = await authServerArgs(authOptions, tmpDir);
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    liveTmpDirs.delete(tmpDir);
    throw err;
  }
  const clientScheme = tls ? 'https' : 'http';
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(size * 2);
    const token = `etcd-test-${randomUUID()}`;
    const names = Array.from({ length: size }, (_, i) => `m${i + 1}`);
    const peerUrls = names.map((_, i) => `http://127.0.0.1:${ports[2 * i + 1]}`);
    const initialCluster = names.map((n, i) => `${n}=${peerUrls[i]}`).join(',');
    const members = names.map((name, i) => {
      const clientUrl = `${clientScheme}://127.0.0.1:${ports[2 * i]}`;
      const peerUrl = peerUrls[i] as string;
      const dataDir = path.join(tmpDir, `${name}.etcd`);
      const args = [
        '--name',
        name,
        '--data-dir',
        dataDir,
        '--listen-client-urls',
        clientUrl,
        '--advertise-client-urls',
        clientUrl,
        '--listen-peer-urls',
        peerUrl,
        '--initial-advertise-peer-urls',
        peerUrl,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        token,
        ...TIMING_ARGS,
        ...LOG_ARGS,
        ...(tls ? tlsServerArgs(tls) : []),
        ...authArgs,
        ...(opts.extraArgs ?? []),
      ];
      const logFile = path.join(tmpDir, `${name}.log`);
      return new ProcessMember(name, clientUrl, peerUrl, dataDir, {
        bin,
        tmpDir,
        logFile,
        startTimeoutMs,
        args,
        clusterSize: size,
        tls,
      });
    });
    const cluster = new ProcessCluster(members, tmpDir, tls);
    try {
      for (const m of members) m.spawnProcess();
      // all members must be spawned before any can become healthy (a 3-node cluster needs a quorum)
      const results = await Promise.allSettled(members.map((m) => m.waitHealthy()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      if (authOptions) cluster.auth = await enableAuth(cluster.endpoints, tls, authOptions);
      return cluster;
    } catch (err) {
      await Promise.all(members.map((m) => m.kill('SIGKILL')));
      const portRace = err instanceof Error && err.message.includes('address already in use');
      if (portRace && attempt < maxAttempts) {
        // another process grabbed one of the ports between probing and binding: retry with new ports
        await Promise.all(members.map((m) => rm(m.dataDir, { recursive: true, force: true })));
        await Promise.all(names.map((n) => rm(path.join(tmpDir, `${n}.log`), { force: true })));
        continue;
      }
      await rm(tmpDir, { recursive: true, force: true });
      liveTmpDirs.delete(tmpDir);
      throw err;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Docker fallback (single node, no process-level fault injection)

async function startDockerEtcd(startTimeoutMs: number): Promise<EtcdCluster | undefined> {
  let tc: typeof import('testcontainers');
  try {
    tc = await import('testcontainers');
    await tc.getContainerRuntimeClient();
  } catch {
    return undefined;
  }
  process.stderr.write(`[etcd harness] no etcd binary; starting ${DOCKER_IMAGE} with testcontainers\n`);
  const container = await new tc.GenericContainer(DOCKER_IMAGE)
    .withCommand([
      'etcd',
      '--listen-client-urls',
      'http://0.0.0.0:2379',
      '--advertise-client-urls',
      'http://0.0.0.0:2379',
    ])
    .withExposedPorts(2379)
    .start();
  const clientUrl = `http://${container.getHost()}:${container.getMappedPort(2379)}`;
  let running = true;
  const unsupported = (what: string) =>
    new Error(`${what} is not supported for etcd running in Docker; install etcd-server for fault tests`);
  const member: EtcdMember = {
    name: 'docker',
    clientUrl,
    peerUrl: '',
    dataDir: '',
    pid: undefined,
    get running() {
      return running;
    },
    kill: () => Promise.reject(unsupported('kill()')),
    start: () => Promise.reject(unsupported('start()')),
    wipe: () => Promise.reject(unsupported('wipe()')),
    pause: () => {
      throw unsupported('pause()');
    },
    resume: () => {
      throw unsupported('resume()');
    },
  };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      running = false;
      await container.stop();
    })();
    return stopping;
  };
  try {
    await waitForHealthy(clientUrl, startTimeoutMs);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    endpoints: [clientUrl],
    members: [member],
    leader: () => findLeader([member]),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

// ---------------------------------------------------------------------------------------------------------
// public entry points

/**
 * Starts a private etcd (default: 1 member) on free 127.0.0.1 ports in a fresh temp dir and waits until every
 * member reports healthy. Always call `stop()` (or use `await using`).
 */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const size = opts.members ?? 1;
  const bin = await ensureEtcdBinary();
  if (bin !== undefined) return startProcessCluster(bin, opts);
  if (opts.tls || opts.auth)
    throw noEtcdError('a TLS or auth etcd needs the `etcd` binary, which is not on PATH');
  if (size === 1) {
    const docker = await startDockerEtcd(opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    if (docker) return docker;
    throw noEtcdError('no `etcd` binary on PATH and no Docker engine answers');
  }
  throw noEtcdError(`a ${size}-member cluster needs the \`etcd\` binary, which is not on PATH`);
}

/** etcd's own version string from `GET /version` (undefined if it does not answer in 2 s). */
export async function serverVersion(endpoint: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${endpoint}/version`, { signal: AbortSignal.timeout(2000) });
    return ((await res.json()) as { etcdserver?: string }).etcdserver;
  } catch {
    return undefined;
  }
}

/** The etcd a script (bench, demo) runs against: see {@link etcdFromEnvOrStart}. */
export interface ScriptEtcd {
  endpoints: string[];
  version: string | undefined;
  /** The private etcd started because ETCD_ENDPOINTS was unset; undefined otherwise. */
  cluster: EtcdCluster | undefined;
  /** Stops the private etcd, if one was started. */
  stop(): Promise<void>;
}

/**
 * `ETCD_ENDPOINTS` when set; otherwise a private single-node etcd started exactly as the tests
 * start theirs (free loopback ports, a fresh temp dir, etcd-server installed with apt if missing).
 */
export async function etcdFromEnvOrStart(): Promise<ScriptEtcd> {
  const fromEnv = process.env.ETCD_ENDPOINTS?.trim();
  if (fromEnv) {
    const endpoints = parseEndpoints(fromEnv);
    return {
      endpoints,
      version: await serverVersion(endpoints[0] ?? ''),
      cluster: undefined,
      stop: () => Promise.resolve(),
    };
  }
  const cluster = await startEtcd({ members: 1 });
  return {
    endpoints: cluster.endpoints,
    version: await serverVersion(cluster.endpoints[0] ?? ''),
    cluster,
    stop: () => cluster.stop(),
  };
}
