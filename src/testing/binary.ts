/**
 * Finding the `etcd` and `etcdctl` binaries, and installing Debian's `etcd-server` and
 * `etcd-client` packages with apt-get when running as root on Debian/Ubuntu without them.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants, existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(name: string): Promise<string | undefined> {
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

/** Whether apt may install what is missing: only as root on Debian or Ubuntu. */
function canAptInstall(): boolean {
  return process.getuid?.() === 0 && existsSync('/etc/debian_version');
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

let ensureBinaryPromise: Promise<string | undefined> | undefined;

/**
 * Path of an `etcd` binary: `$ETCD_BIN` if set (used as is: never searched further nor
 * installed), else the first `etcd` on PATH, /usr/bin or /usr/local/bin. When there is none and
 * the process runs as root on Debian/Ubuntu, installs the `etcd-server` package with apt-get
 * (logging to stderr) first. Undefined if there is still none. The result is cached per process.
 *
 * @example
 * ```ts
 * const etcd = await ensureEtcdBinary(); // '/usr/bin/etcd'
 * ```
 */
export function ensureEtcdBinary(): Promise<string | undefined> {
  ensureBinaryPromise ??= (async () => {
    const fromEnv = process.env.ETCD_BIN;
    if (fromEnv) {
      if (await isExecutable(fromEnv)) return fromEnv;
      process.stderr.write(`[etcd harness] ETCD_BIN=${fromEnv} is not an executable file\n`);
      return undefined;
    }
    const found = await findOnPath('etcd');
    if (found) return found;
    if (canAptInstall()) {
      process.stderr.write(
        '[etcd harness] no etcd binary found; installing the Debian packages etcd-server and etcd-client\n',
      );
      await aptInstall();
      return findOnPath('etcd');
    }
    return undefined;
  })();
  return ensureBinaryPromise;
}

let ensureEtcdctlPromise: Promise<string> | undefined;

/**
 * Path of `etcdctl` (`$ETCDCTL_BIN`, else PATH), installing Debian's `etcd-client` as root when
 * it is missing. Rejects with what to do when there is none.
 *
 * @example
 * ```ts
 * const etcdctl = await ensureEtcdctl(); // '/usr/bin/etcdctl'
 * ```
 */
export function ensureEtcdctl(): Promise<string> {
  ensureEtcdctlPromise ??= (async () => {
    const fromEnv = process.env.ETCDCTL_BIN;
    if (fromEnv) {
      if (await isExecutable(fromEnv)) return fromEnv;
      throw new Error(`ETCDCTL_BIN=${fromEnv} is not an executable file`);
    }
    let found = await findOnPath('etcdctl');
    if (!found && canAptInstall()) {
      process.stderr.write('[etcd harness] no etcdctl found; installing the Debian package etcd-client\n');
      await aptInstall();
      found = await findOnPath('etcdctl');
    }
    if (!found) {
      throw new Error(
        'etcdctl is needed here: `sudo apt-get install -y etcd-client` (Debian/Ubuntu), ' +
          'or point ETCDCTL_BIN at an etcdctl binary',
      );
    }
    return found;
  })();
  return ensureEtcdctlPromise;
}
