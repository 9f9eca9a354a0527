/**
 * One contender's uncontended lock+release loop, to profile: a private etcd on tmpfs, then
 * `cycles` cycles of `mutex.lock({ signal })` (with a signal, as the bench's contender passes one)
 * and `hold.release()`, on one name (`same`) or a fresh name per cycle (`fresh`). Prints cycles/s
 * and the process's CPU per cycle (user, system). With a profile path, the measured cycles (not
 * start-up, not the warm-up) are CPU-profiled at 100 µs, the profile written there and its
 * breakdown by layer printed (./profile-layers.ts).
 *
 *   node --import tsx bench/micro/mutex-cycle.ts [cycles] [same|fresh] [profile.cpuprofile]
 */
import { writeFileSync } from 'node:fs';
import { Session as Inspector } from 'node:inspector/promises';
import { startEtcd } from '../../src/testing.js';
import { createClient, Mutex, Session } from '../lib.js';
import { layerTable } from './profile-layers.js';

const cycles = Number(process.argv[2] ?? 3000);
const fresh = process.argv[3] === 'fresh';
process.env.TMPDIR = '/dev/shm';
await using etcd = await startEtcd();
const client = createClient({ endpoints: etcd.endpoints });
const session = await Session.create(client, { ttl: 30 });
const stop = new AbortController();
const run = async (n: number) => {
  const same = new Mutex(session, 'micro/lock', { value: 'me' });
  for (let i = 0; i < n; i++) {
    const mutex = fresh ? new Mutex(session, `micro/fresh/${i}`, { value: 'me' }) : same;
    const hold = await mutex.lock({ signal: stop.signal });
    await hold.release();
  }
};
const profilePath = process.argv[4];
await run(300); // warm-up
const inspector = new Inspector();
if (profilePath) {
  inspector.connect();
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.setSamplingInterval', { interval: 100 });
  await inspector.post('Profiler.start');
}
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await run(cycles);
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const perCycle = (us: number) => (us / 1000 / cycles).toFixed(3);
process.stdout.write(
  `${cycles} cycles: ${(cycles / (ms / 1000)).toFixed(0)}/s, client CPU ${perCycle(cpu.user + cpu.system)} ms/cycle ` +
    `(user ${perCycle(cpu.user)}, system ${perCycle(cpu.system)})\n`,
);
if (profilePath) {
  const { profile } = await inspector.post('Profiler.stop');
  writeFileSync(profilePath, JSON.stringify(profile));
  inspector.disconnect();
  process.stdout.write(`${layerTable(profile, cycles)}\n`);
}
await session.close();
client.close();
