/**
 * Checks that the imports between files of src/ point one way (DESIGN.md "Layout"):
 *
 *   errors.ts, diagnostics/  (0)  ←  etcd/ (1)  ←  session/ (2)  ←  queue/ (3)
 *   ←  mutex/ election/ barrier/ semaphore/ stm/ queue-recipes/ (4)  ←  cli/ (5)
 *   ←  index.ts, testing.ts, testing/ (the public entry points and the harness)
 *
 * A file may import its own layer and the layers below it, never one above; a primitive may not
 * import another primitive (what two of them share belongs in queue/); and no set of files may
 * import each other in a cycle. Every relative import counts, `import type` and `export … from`
 * included: a type-only edge still ties the layers' designs together, and a type cycle is the
 * first step to a value cycle.
 *
 * Run: `tsx scripts/check-layers.ts [root]` (exit 1 and one line per offence), or call
 * {@link checkLayers} (the test does, on planted trees too).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Where a file sits: its rank (lower may not import higher) and, for a primitive, which one. */
export interface Layer {
  rank: number;
  name: string;
  /** The primitive's folder; primitives of different folders may not import each other. */
  primitive?: string;
}

const PRIMITIVES = ['mutex', 'election', 'barrier', 'semaphore', 'stm', 'queue-recipes'];
const TOP = 6;

/** The layer of `file` (a path relative to src/, with forward slashes), or undefined if it has none. */
export function layerOf(file: string): Layer | undefined {
  if (file === 'errors.ts') return { rank: 0, name: 'errors' };
  if (file === 'index.ts' || file === 'testing.ts') return { rank: TOP, name: 'entry points' };
  const folder = file.includes('/') ? file.slice(0, file.indexOf('/')) : undefined;
  switch (folder) {
    case 'diagnostics':
      return { rank: 0, name: 'diagnostics' };
    case 'etcd':
      return { rank: 1, name: 'etcd' };
    case 'session':
      return { rank: 2, name: 'session' };
    case 'queue':
      return { rank: 3, name: 'queue' };
    case 'cli':
      return { rank: 5, name: 'cli' };
    case 'testing':
      return { rank: TOP, name: 'testing' };
    default:
      if (folder && PRIMITIVES.includes(folder)) return { rank: 4, name: 'primitives', primitive: folder };
      return undefined;
  }
}

/** One import that breaks the direction rule, or a file outside every layer. */
export interface Violation {
  /** `src/…:line`, where the import is. */
  at: string;
  message: string;
}

/** What {@link checkLayers} found. */
export interface LayerReport {
  /** How many files of src/ were read. */
  files: number;
  violations: Violation[];
  /** Each cycle as the files along it, the first repeated at the end. */
  cycles: string[][];
}

interface Edge {
  to: string;
  line: number;
}

/** Reads every .ts file under `root`/src and checks its relative imports. */
export function checkLayers(root: string): LayerReport {
  const src = path.join(root, 'src');
  const files = listTs(src).map((f) => toPosix(path.relative(src, f)));
  const known = new Set(files);
  const graph = new Map<string, Edge[]>();
  const violations: Violation[] = [];
  for (const file of files) {
    const edges = importsOf(path.join(src, file), file, known);
    graph.set(file, edges);
    const from = layerOf(file);
    if (!from) {
      violations.push({
        at: `src/${file}:1`,
        message: `is in no layer: put it in errors.ts, diagnostics/, etcd/, session/, queue/, a primitive's folder or cli/ (scripts/check-layers.ts)`,
      });
      continue;
    }
    for (const { to, line } of edges) {
      const target = layerOf(to);
      if (!target) continue; // reported as a file of its own
      const at = `src/${file}:${line}`;
      if (target.rank > from.rank) {
        violations.push({
          at,
          message: `${from.name} (layer ${from.rank}) imports src/${to} of ${target.name} (layer ${target.rank}), a layer above it: move what both need down`,
        });
      } else if (from.primitive && target.primitive && from.primitive !== target.primitive) {
        violations.push({
          at,
          message: `primitive ${from.primitive}/ imports src/${to} of primitive ${target.primitive}/: what two primitives share belongs in queue/`,
        });
      }
    }
  }
  return { files: files.length, violations, cycles: findCycles(graph) };
}

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listTs(full));
    else if (name.endsWith('.ts')) out.push(full);
  }
  return out;
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

/** The src files `file` imports (relative specifiers only; packages are not layers). */
function importsOf(full: string, file: string, known: Set<string>): Edge[] {
  const text = readFileSync(full, 'utf8');
  const info = ts.preProcessFile(text, true, true);
  const edges: Edge[] = [];
  for (const ref of info.importedFiles) {
    if (!ref.fileName.startsWith('.')) continue;
    const target = toPosix(path.posix.normalize(path.posix.join(path.posix.dirname(file), ref.fileName)));
    const resolved = [target.replace(/\.js$/, '.ts'), target, `${target}.ts`, `${target}/index.ts`].find(
      (c) => known.has(c),
    );
    if (!resolved) continue; // outside src/ (or missing: tsc reports that)
    edges.push({ to: resolved, line: lineAt(text, ref.pos) });
  }
  return edges;
}

function lineAt(text: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * Every strongly connected set of files (Tarjan), each reported as one concrete cycle through
 * it, so the message names the imports to break.
 */
function findCycles(graph: Map<string, Edge[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const { to } of graph.get(v) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(v, Math.min(low.get(v)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(v, Math.min(low.get(v)!, index.get(to)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component = new Set<string>();
    for (;;) {
      const w = stack.pop()!;
      onStack.delete(w);
      component.add(w);
      if (w === v) break;
    }
    const selfLoop = (graph.get(v) ?? []).some((e) => e.to === v);
    if (component.size > 1 || selfLoop) cycles.push(cycleThrough(v, component, graph));
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

/** A shortest path from `start` back to itself inside `component` (breadth first). */
function cycleThrough(start: string, component: Set<string>, graph: Map<string, Edge[]>): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    for (const { to } of graph.get(v) ?? []) {
      if (!component.has(to)) continue;
      if (to === start) {
        const back = [v];
        for (let w = parent.get(v); w !== undefined; w = parent.get(w)) back.push(w);
        return [...back.reverse(), start];
      }
      if (!parent.has(to) && to !== start) {
        parent.set(to, v);
        queue.push(to);
      }
    }
  }
  return [start, start];
}

/** The report as lines for a terminal; empty when everything is in order. */
export function formatReport(report: LayerReport): string[] {
  const lines = report.violations.map((v) => `${v.at}: ${v.message}`);
  for (const cycle of report.cycles) {
    lines.push(`import cycle: ${cycle.map((f) => `src/${f}`).join(' → ')}`);
  }
  return lines;
}

const invokedDirectly =
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
  const report = checkLayers(root);
  const lines = formatReport(report);
  if (lines.length > 0) {
    for (const line of lines) console.error(line);
    console.error(
      `check-layers: ${report.violations.length} import(s) against the layer order, ${report.cycles.length} cycle(s) (see DESIGN.md "Layout")`,
    );
    process.exitCode = 1;
  } else {
    console.log(`check-layers: ${report.files} files of src/, imports point one way, no cycle`);
  }
}
