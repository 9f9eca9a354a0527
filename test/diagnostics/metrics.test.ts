import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { Mutex, Semaphore, enableMetrics, type MetricsHandle } from '../../src/index.js';
import { useEtcd } from '../support/clients.js';
import { uniquePrefix } from '../support/prefix.js';
import { runTs, useSpawn } from '../support/spawn.js';

const etcd = useEtcd();
useSpawn();

/** A real SDK pipeline: a provider whose reader exports into memory when flushed. */
function sdk() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    /** Every metric as of now, by name. */
    read: async (): Promise<Map<string, MetricData>> => {
      exporter.reset();
      await provider.forceFlush();
      const out = new Map<string, MetricData>();
      for (const rm of exporter.getMetrics())
        for (const sm of rm.scopeMetrics) for (const m of sm.metrics) out.set(m.descriptor.name, m);
      return out;
    },
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function track(handle: MetricsHandle, provider: MeterProvider): void {
  cleanups.push(
    () => handle.close(),
    () => provider.shutdown(),
  );
}

/** The data point of `metric` whose attributes include `attrs`. */
function point(metric: MetricData | undefined, attrs: Record<string, unknown>) {
  expect(metric, 'metric recorded').toBeDefined();
  const found = metric!.dataPoints.filter((p) =>
    Object.entries(attrs).every(([k, v]) => p.attributes[k] === v),
  );
  expect(found, `one point with ${JSON.stringify(attrs)}`).toHaveLength(1);
  return found[0]!;
}

function counter(metric: MetricData | undefined, attrs: Record<string, unknown>): number {
  expect(metric?.dataPointType).toBe(DataPointType.SUM);
  return point(metric, attrs).value as number;
}

function histogram(metric: MetricData | undefined, attrs: Record<string, unknown>) {
  expect(metric?.dataPointType).toBe(DataPointType.HISTOGRAM);
  expect(metric?.descriptor.unit).toBe('ms');
  return point(metric, attrs).value as { count: number; sum?: number; min?: number; max?: number };
}

describe('OpenTelemetry metrics', () => {
  it('records acquisitions, contended waits, wait and hold times and losses by cause, per primitive and name', async () => {
    const { provider, read } = sdk();
    track(await enableMetrics({ meterProvider: provider }), provider);
    const client = etcd.client();
    const [a, b] = [await etcd.session(client), await etcd.session(client)];
    const name = `${uniquePrefix('metrics')}lock`;

    const first = await new Mutex(a, name).lock();
    const waiting = new Mutex(b, name).lock();
    await new Promise((r) => setTimeout(r, 100));
    await first.release();
    const second = await waiting;
    await etcd.client().leaseClient.leaseRevoke({ ID: b.leaseId });
    await b.done;
    const permit = await new Semaphore(a, `${name}-sem`, { permits: 1 }).acquire();
    await permit.release();

    const m = await read();
    const lock = { primitive: 'mutex', name };
    expect(counter(m.get('etcd_concurrency.acquisitions'), { ...lock, contended: false })).toBe(1);
    expect(counter(m.get('etcd_concurrency.acquisitions'), { ...lock, contended: true })).toBe(1);
    expect(
      counter(m.get('etcd_concurrency.acquisitions'), { primitive: 'semaphore', name: `${name}-sem` }),
    ).toBe(1);
    expect(counter(m.get('etcd_concurrency.contended_waits'), lock)).toBe(1);
    const contendedWait = histogram(m.get('etcd_concurrency.wait.duration'), { ...lock, contended: true });
    expect(contendedWait.count).toBe(1);
    expect(contendedWait.min).toBeGreaterThanOrEqual(90);
    const released = histogram(m.get('etcd_concurrency.hold.duration'), { ...lock, outcome: 'released' });
    expect(released.count).toBe(1);
    expect(released.min).toBeGreaterThanOrEqual(90);
    expect(histogram(m.get('etcd_concurrency.hold.duration'), { ...lock, outcome: 'lost' }).count).toBe(1);
    expect(counter(m.get('etcd_concurrency.losses'), { ...lock, cause: 'revoked' })).toBe(1);
    expect(counter(m.get('etcd_concurrency.losses'), { primitive: 'session', cause: 'revoked' })).toBe(1);
    expect(second.signal.aborted).toBe(true);
  });

  it('counts renewals and records their round-trip time', async () => {
    const { provider, read } = sdk();
    track(await enableMetrics({ meterProvider: provider }), provider);
    const session = await etcd.session(undefined, { ttl: 3 });
    await new Promise<void>((resolve) => {
      const sub = session.keepAlive$.subscribe(() => {
        sub.unsubscribe();
        resolve();
      });
    });
    const m = await read();
    expect(counter(m.get('etcd_concurrency.renewals'), { primitive: 'session' })).toBeGreaterThanOrEqual(1);
    const rtt = histogram(m.get('etcd_concurrency.renewal.rtt'), { primitive: 'session' });
    expect(rtt.count).toBeGreaterThanOrEqual(1);
    expect(rtt.max).toBeLessThan(1000);
  });

  it('uses the global meter provider of @opentelemetry/api when none is given, until closed', async () => {
    const { provider, read } = sdk();
    metrics.setGlobalMeterProvider(provider);
    cleanups.push(() => provider.shutdown());
    cleanups.push(() => {
      metrics.disable();
    });
    const handle = await enableMetrics();
    const session = await etcd.session();
    const name = `${uniquePrefix('metrics')}lock`;
    const mutex = new Mutex(session, name);
    await (await mutex.lock()).release();
    handle.close();
    handle.close();
    await (await mutex.lock()).release();
    const m = await read();
    expect(counter(m.get('etcd_concurrency.acquisitions'), { primitive: 'mutex', name })).toBe(1);
  });

  it('without @opentelemetry/api installed: the package loads and works, enableMetrics() says what to install', async () => {
    const name = `${uniquePrefix('metrics')}lock`;
    const run = await runTs('test/diagnostics/fixtures/without-otel.ts', [name]).exit(20_000);
    expect(run.stderr).toBe('');
    const result = JSON.parse(run.stdout.trim()) as Record<string, unknown>;
    expect(result.apiMissing).toBe(true);
    expect(result.locked).toBe(true);
    expect(result.enableMetrics).toContain('npm install @opentelemetry/api');
    expect(result.withProvider).toEqual({
      'etcd_concurrency.acquisitions': 1,
      'etcd_concurrency.wait.duration': 1,
      'etcd_concurrency.hold.duration': 1,
    });
    expect(run.code).toBe(0);
  });
});
