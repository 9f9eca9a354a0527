/**
 * The layer rule of DESIGN.md "Layout" (etcd ← session ← queue ← primitives ← cli, no cycle),
 * as `npm run lint` enforces it: the real tree passes, and planted trees with an upward import,
 * a sideways import between primitives, a misplaced file and a cycle each fail, so the check can
 * fail at all.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { checkLayers, formatReport, layerOf } from '../scripts/check-layers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHECKER = path.join(ROOT, 'scripts/check-layers.ts');

const trees: string[] = [];
afterEach(() => {
  for (const dir of trees.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A throwaway repository root whose src/ holds `files` (path → contents). */
function plant(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'layers-'));
  trees.push(root);
  for (const [file, text] of Object.entries(files)) {
    const full = path.join(root, 'src', file);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  return root;
}

function runChecker(root: string): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ['--import', 'tsx', CHECKER, root], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** A minimal tree in order: each layer imports the one below. */
const inOrder: Record<string, string> = {
  'errors.ts': 'export class E extends Error {}\n',
  'diagnostics/publish.ts': "import { E } from '../errors.js';\nexport const p = E;\n",
  'etcd/kv.ts': "import { p } from '../diagnostics/publish.js';\nexport const kv = p;\n",
  'session/session.ts': "import { kv } from '../etcd/kv.js';\nexport const s = kv;\n",
  'queue/queue.ts': "import type { s } from '../session/session.js';\nexport type Q = typeof s;\n",
  'mutex/mutex.ts': "import type { Q } from '../queue/queue.js';\nexport type M = Q;\n",
  'election/election.ts': "export type { Q as El } from '../queue/queue.js';\n",
  'cli/main.ts': "import type { M } from '../mutex/mutex.js';\nexport type C = M;\n",
  'index.ts': "export type { C } from './cli/main.js';\nexport type { M } from './mutex/mutex.js';\n",
};

describe('the layer check', () => {
  it('passes on the real src/ tree', () => {
    const report = checkLayers(ROOT);
    expect(formatReport(report)).toEqual([]);
    expect(report.files).toBeGreaterThan(50);
  });

  it('passes on a planted tree whose imports all point down', () => {
    const report = checkLayers(plant(inOrder));
    expect(report).toEqual({ files: Object.keys(inOrder).length, violations: [], cycles: [] });
  });

  it('flags an upward import with its file and line, type-only imports included', () => {
    const root = plant({
      ...inOrder,
      'etcd/kv.ts':
        "import { p } from '../diagnostics/publish.js';\nimport type { s } from '../session/session.js';\nexport const kv = p;\nexport type S = typeof s;\n",
    });
    const { violations } = checkLayers(root);
    expect(violations).toHaveLength(1);
    expect(violations[0]!.at).toBe('src/etcd/kv.ts:2');
    expect(violations[0]!.message).toMatch(
      /etcd \(layer 1\) imports src\/session\/session\.ts of session \(layer 2\)/,
    );
  });

  it('flags diagnostics importing the etcd adapter (diagnostics sits with the errors, below etcd)', () => {
    const root = plant({ ...inOrder, 'diagnostics/trace.ts': "export { kv } from '../etcd/kv.js';\n" });
    expect(checkLayers(root).violations.map((v) => v.at)).toEqual(['src/diagnostics/trace.ts:1']);
  });

  it("flags a primitive importing another primitive's internals", () => {
    const root = plant({
      ...inOrder,
      'mutex/run.ts': "import type { El } from '../election/election.js';\nexport type R = El;\n",
    });
    const { violations } = checkLayers(root);
    expect(violations.map((v) => v.at)).toEqual(['src/mutex/run.ts:1']);
    expect(violations[0]!.message).toMatch(
      /primitive mutex\/ imports src\/election\/election\.ts of primitive election\//,
    );
  });

  it('flags a file that belongs to no layer, and anything importing the harness', () => {
    const root = plant({
      ...inOrder,
      'core/leftover.ts': 'export const x = 1;\n',
      'testing/start.ts': "import type { C } from '../cli/main.js';\nexport type T = C;\n",
      'queue/uses-harness.ts': "import type { T } from '../testing/start.js';\nexport type U = T;\n",
    });
    const at = checkLayers(root).violations.map((v) => v.at);
    expect(at).toEqual(['src/core/leftover.ts:1', 'src/queue/uses-harness.ts:1']);
  });

  it('reports an import cycle inside one layer as the files along it', () => {
    const root = plant({
      ...inOrder,
      'queue/queue.ts': "import { hold } from './hold.js';\nexport const queue = hold;\n",
      'queue/hold.ts': "import { mirror } from './mirror.js';\nexport const hold = mirror;\n",
      'queue/mirror.ts':
        "import type { queue } from './queue.js';\nexport const mirror = 1;\nexport type Q = typeof queue;\n",
      'mutex/mutex.ts': 'export type M = number;\n',
    });
    const report = checkLayers(root);
    expect(report.violations).toEqual([]);
    expect(report.cycles).toHaveLength(1);
    const cycle = report.cycles[0]!;
    expect(cycle[0]).toBe(cycle[cycle.length - 1]);
    expect(new Set(cycle)).toEqual(new Set(['queue/queue.ts', 'queue/hold.ts', 'queue/mirror.ts']));
    expect(formatReport(report)).toEqual([
      expect.stringMatching(/^import cycle: src\/queue\/.* → src\/queue\//),
    ]);
  });

  it('assigns the layers of DESIGN.md', () => {
    expect(
      [
        'errors.ts',
        'diagnostics/events.ts',
        'etcd/client.ts',
        'session/session.ts',
        'queue/hold.ts',
        'semaphore/semaphore.ts',
        'cli/main.ts',
        'index.ts',
      ].map((f) => layerOf(f)?.rank),
    ).toEqual([0, 0, 1, 2, 3, 4, 5, 6]);
    expect(layerOf('hold.ts')).toBeUndefined();
  });

  it('as a command, exits 0 on the real tree and 1 listing each offence on a planted one', () => {
    const ok = runChecker(ROOT);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/imports point one way, no cycle/);
    const bad = runChecker(
      plant({
        ...inOrder,
        'session/session.ts':
          "import { kv } from '../etcd/kv.js';\nimport '../queue/queue.js';\nexport const s = kv;\n",
      }),
    );
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(
      /^src\/session\/session\.ts:2: session \(layer 2\) imports src\/queue\/queue\.ts/m,
    );
    expect(bad.stderr).toMatch(/import cycle: /);
  });
});
