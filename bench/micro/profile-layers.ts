/**
 * Where a V8 CPU profile's main-thread time went, by layer: each sample is charged to the nearest
 * frame on its stack that belongs to a package or to the library (node:internal and native frames
 * are skipped, so `Buffer.from` called by our code is ours, `http2.request` called by grpc-js is
 * grpc-js's); protobufjs's generated codec functions (`X$encode`, …) count as protobufjs. Stacks
 * with no such frame are named by their entry (socket reads, microtask ticks). Idle time and the
 * profiler itself are left out.
 *
 *   node --import tsx bench/micro/profile-layers.ts profile.cpuprofile [cycles] [detail]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
/** A V8 CPU profile (`.cpuprofile`, or the inspector's Profiler.stop). */
interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

/** Microseconds per layer, and the main thread's busy total. */
export function layersOf(profile: Profile, detail = false): { busyUs: number; layers: Map<string, number> } {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  const deltas = profile.timeDeltas ?? [];
  (profile.samples ?? []).forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i] ?? 0)));
  const layers = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const leaf = nodes.get(id)!.callFrame;
    if (leaf.functionName === '(idle)' || leaf.url.includes('inspector')) continue;
    busyUs += us;
    const layer =
      leaf.functionName === '(garbage collector)'
        ? 'GC (main thread)'
        : leaf.functionName === '(program)'
          ? '(program: native, unattributed)'
          : stackOwner(id, nodes, parent, detail);
    layers.set(layer, (layers.get(layer) ?? 0) + us);
  }
  return { busyUs, layers };
}

function stackOwner(
  id: number,
  nodes: Map<number, ProfileNode>,
  parent: Map<number, number>,
  detail: boolean,
): string {
  let entry = '';
  for (let p: number | undefined = id; p !== undefined; p = parent.get(p)) {
    const frame = nodes.get(p)!.callFrame;
    if (/\$(encode|decode|fromObject|toObject)$/.test(frame.functionName))
      return 'protobufjs (generated codec)';
    const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(frame.url)?.[1];
    if (pkg) return pkg === 'long' || pkg === 'protobufjs' ? 'protobufjs (+long)' : pkg;
    const own = /\/(src\/.*)$/.exec(frame.url)?.[1];
    if (own) return detail ? `ours: ${own} ${frame.functionName || '(anonymous)'}` : 'ours (src/)';
    if (frame.url.includes('/bench/')) return 'bench script';
    if (frame.functionName && frame.functionName !== '(root)') {
      entry = `${frame.functionName} (${frame.url.replace('node:internal/', '')})`;
    }
  }
  return `node only: ${entry}`;
}

/** The table printed for a profile: share of busy time per layer, biggest first. */
export function layerTable(profile: Profile, cycles: number, detail = false): string {
  const { busyUs, layers } = layersOf(profile, detail);
  const rows = [...layers]
    .sort((a, b) => b[1] - a[1])
    .filter(([, us]) => us / busyUs >= 0.002)
    .map(([layer, us]) => `${((100 * us) / busyUs).toFixed(1).padStart(6)}%  ${layer}`);
  return [`main thread busy ${(busyUs / 1000 / cycles).toFixed(3)} ms/cycle`, ...rows].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [path, cycles = '1', detail] = process.argv.slice(2);
  if (!path) throw new Error('usage: profile-layers.ts profile.cpuprofile [cycles] [detail]');
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  process.stdout.write(`${layerTable(profile, Number(cycles), detail === 'detail')}\n`);
}
