import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Mutex } from '../../src/index.js';
import { useSecureEtcd } from '../secure/fixture.js';
import { serialize, useDiagnostics } from './record.js';

const etcd = useSecureEtcd();
const diagnostics = useDiagnostics();

describe('diagnostics on a TLS + auth cluster', () => {
  it('publishes no password, token, TLS material or key value in any event', async () => {
    diagnostics.start();
    const { tls, auth } = etcd.credentials();
    const client = etcd.user();
    const [a, b] = [await etcd.session(client), await etcd.session(client)];
    const name = etcd.name('lock');
    const first = await new Mutex(a, name, { value: 'value-of-a' }).lock();
    const waiting = new Mutex(b, name, { value: 'value-of-b' }).lock();
    await diagnostics.next('wait', (m) => m.name === name);
    await first.release();
    const second = await waiting;
    await etcd.root().leaseClient.leaseRevoke({ ID: b.leaseId });
    if (!second.signal.aborted) await new Promise((r) => second.signal.addEventListener('abort', r));

    const events = diagnostics.all();
    // Everything there is to see was seen: waits, acquisitions, a release, both losses.
    expect(new Set(events.map((e) => e.event))).toEqual(
      new Set(['wait', 'acquire', 'release', 'lost', 'renew']),
    );
    const text = events.map((e) => serialize(e.message)).join('\n');
    const secrets = [
      auth.user.password,
      auth.root.password,
      'value-of-a',
      'value-of-b',
      ...[tls.key, tls.cert].map((file) => readFileSync(file, 'utf8').split('\n')[1]!),
    ];
    expect(secrets.filter((s) => text.includes(s))).toEqual([]);
  });
});
