import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// In your project: import { startEtcd } from 'etcd-concurrency/testing';
import { startEtcd } from '../../src/testing.js';
import { ROOT } from '../support/spawn.js';

/** `etcd-concurrency/testing` as its users call it: a real etcd per test, gone afterwards. */

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startEtcd', { timeout: 60_000 }, () => {
  it('gives a real etcd on free loopback ports, and `await using` stops it and its clients', async () => {
    let pid: number | undefined;
    let client: ReturnType<Awaited<ReturnType<typeof startEtcd>>['client']>;
    {
      await using etcd = await startEtcd();
      expect(etcd.endpoints).toHaveLength(1);
      expect(etcd.endpoints[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      client = etcd.client();
      await client.put('greeting').value('hello');
      expect(await client.get('greeting').string()).toBe('hello');
      pid = etcd.members[0]!.pid;
      expect(pid).toBeGreaterThan(0);
    }
    expect(isRunning(pid!)).toBe(false);
    await expect(client.get('greeting').string()).rejects.toThrow();
  });

  it('starts a 3-member cluster that keeps serving when its leader is killed', async () => {
    await using etcd = await startEtcd({ members: 3 });
    expect(etcd.endpoints).toHaveLength(3);
    expect(new Set(etcd.endpoints).size).toBe(3);
    const client = etcd.client();
    await client.put('k').value('before');
    const leader = await etcd.leader();
    await leader.kill();
    const next = await etcd.leader();
    expect(next.name).not.toBe(leader.name);
    await client.put('k').value('after');
    expect(await client.get('k').string()).toBe('after');
  });

  it('with tls and auth, client() is root over TLS, and the limited user is one option away', async () => {
    await using etcd = await startEtcd({ tls: true, auth: true });
    expect(etcd.endpoints[0]).toMatch(/^https:\/\//);
    const { auth } = etcd;
    expect(auth?.prefix).toBe('app/');
    await etcd.client().put('anywhere').value('root may');
    const user = etcd.client({ auth: auth!.user });
    await user.put('app/x').value('inside the prefix');
    await expect(user.put('elsewhere').value('no')).rejects.toThrow(/permission denied/);
  });

  it('refuses member counts other than 1 and 3', async () => {
    await expect(startEtcd({ members: 2 as 1 })).rejects.toThrow(/members must be 1 or 3/);
  });
});

describe('the etcd-concurrency/testing package entry', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, { types: string; default: string }>;
    dependencies: Record<string, string>;
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, { optional?: boolean }>;
  };

  it('is exported as ./testing, built from src/testing.ts', () => {
    expect(pkg.exports['./testing']).toEqual({ types: './dist/testing.d.ts', default: './dist/testing.js' });
    const build = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.build.json'), 'utf8')) as {
      compilerOptions: { rootDir: string; outDir: string };
    };
    expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
  });

  it('imports, when loaded, nothing but Node, its dependencies and its required peers', () => {
    const allowed = new Set([
      ...Object.keys(pkg.dependencies),
      ...Object.keys(pkg.peerDependencies).filter((p) => !pkg.peerDependenciesMeta[p]?.optional),
    ]);
    const files = [
      path.join(ROOT, 'src/testing.ts'),
      ...readdirSync(path.join(ROOT, 'src/testing')).map((f) => path.join(ROOT, 'src/testing', f)),
    ];
    const bare: string[] = [];
    for (const file of files) {
      const source = readFileSync(file, 'utf8');
      for (const [, specifier] of source.matchAll(/^(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm)) {
        if (!specifier!.startsWith('.')) bare.push(specifier!);
      }
      expect(source).not.toMatch(/from 'vitest'/);
    }
    expect(bare.length).toBeGreaterThan(0);
    const outside = bare.filter(
      (s) => !s.startsWith('node:') && !builtinModules.includes(s) && !allowed.has(s.split('/')[0]!),
    );
    expect(outside).toEqual([]);
    // testcontainers is an optional peer, loaded only for the Docker fallback
    expect(pkg.peerDependenciesMeta.testcontainers?.optional).toBe(true);
  });
});
