/**
 * Builds the Go contender (bench/go/mutex/main.go) on first use: Debian's `golang-go` compiler
 * and the etcd 3.4 client sources of `golang-etcd-server-dev` under /usr/share/gocode, in GOPATH
 * mode with the module proxy off (no network). As root on Debian, installs the two packages when
 * missing, like the test harness installs etcd. The binary is cached by a hash of the source and
 * the toolchain, so it is rebuilt only when either changes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where Debian's golang-*-dev packages put their sources. */
export const DEBIAN_GOPATH = '/usr/share/gocode';
/** The package the contender imports; etcd 3.4 ships it here (3.5 moved it to go.etcd.io/etcd/client/v3). */
const CONCURRENCY_DIR = `${DEBIAN_GOPATH}/src/go.etcd.io/etcd/clientv3/concurrency`;
const SOURCE_DIR = fileURLToPath(new URL('./mutex/', import.meta.url));
const PACKAGES = ['golang-go', 'golang-etcd-server-dev'];

/** The built contender, or why there is none. */
export type GoBuild = { binary: string; version: string } | { unavailable: string };

/** `BENCH_GO_CACHE`, else a directory under the OS temp dir (the repository's node_modules may be shared). */
export function goCacheDir(): string {
  return process.env.BENCH_GO_CACHE ?? path.join(os.tmpdir(), 'etcd-concurrency-bench-go');
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv, cwd?: string): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: env ?? process.env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => {
      resolve({ code: -1, stdout, stderr: stderr + String(err) });
    });
    child.once('close', (code) => {
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

async function findGo(): Promise<string | undefined> {
  for (const candidate of ['go', '/usr/lib/go/bin/go']) {
    if ((await run(candidate, ['version'])).code === 0) return candidate;
  }
  return undefined;
}

/** The toolchain and the etcd sources, installing them with apt-get where this process may. */
export async function ensureGoToolchain(
  log: (m: string) => void,
): Promise<{ go: string } | { unavailable: string }> {
  let go = await findGo();
  if (go && existsSync(CONCURRENCY_DIR)) return { go };
  const missing = [
    ...(go ? [] : ['golang-go']),
    ...(existsSync(CONCURRENCY_DIR) ? [] : ['golang-etcd-server-dev']),
  ];
  if (process.getuid?.() !== 0 || !existsSync('/etc/debian_version')) {
    return {
      unavailable:
        `Go's concurrency.Mutex needs ${missing.join(' and ')} (Debian: apt-get install ${PACKAGES.join(' ')}); ` +
        'not root on Debian, so the bench cannot install them',
    };
  }
  log(`  installing ${PACKAGES.join(' ')} with apt-get (for Go's concurrency.Mutex)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = await run('apt-get', ['update'], env);
  const install =
    update.code === 0
      ? await run('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES], env)
      : update;
  go = await findGo();
  if (install.code !== 0 || !go || !existsSync(CONCURRENCY_DIR)) {
    return {
      unavailable: `apt-get could not install ${PACKAGES.join(' ')}: ${install.stderr.trim().split('\n').slice(-2).join(' ')}`,
    };
  }
  return { go };
}

let building: Promise<GoBuild> | undefined;

/** The contender's binary, built (once per process, and only if its cache entry is stale). */
export function goContender(log: (m: string) => void): Promise<GoBuild> {
  building ??= build(log);
  return building;
}

async function build(log: (m: string) => void): Promise<GoBuild> {
  const toolchain = await ensureGoToolchain(log);
  if ('unavailable' in toolchain) return toolchain;
  const version = (await run(toolchain.go, ['version'])).stdout.trim();
  const etcdVersion = await readFile(`${DEBIAN_GOPATH}/src/go.etcd.io/etcd/version/version.go`, 'utf8').catch(
    () => '',
  );
  const source = await readFile(path.join(SOURCE_DIR, 'main.go'));
  const hash = createHash('sha256')
    .update(source)
    .update(version)
    .update(etcdVersion)
    .digest('hex')
    .slice(0, 16);
  const cache = goCacheDir();
  const binary = path.join(cache, `etcd-mutex-${hash}`);
  if (existsSync(binary)) return { binary, version };
  await mkdir(cache, { recursive: true });
  log(`  building the Go contender (${version}, etcd client from ${DEBIAN_GOPATH}) into ${cache}`);
  const partial = `${binary}.${process.pid}.tmp`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH: DEBIAN_GOPATH,
    GOCACHE: path.join(cache, 'gocache'),
    GOFLAGS: '',
    GOPROXY: 'off',
    CGO_ENABLED: '0',
  };
  const out = await run(toolchain.go, ['build', '-o', partial, '.'], env, SOURCE_DIR);
  if (out.code !== 0) {
    return { unavailable: `go build failed: ${out.stderr.trim().split('\n').slice(0, 6).join(' | ')}` };
  }
  await rename(partial, binary);
  return { binary, version };
}
