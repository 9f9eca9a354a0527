import { EtcdConcurrencyError } from '../errors.js';
import { subscribeDiagnostics } from './events.js';

/**
 * The part of an OpenTelemetry `MeterProvider` this library uses. Structural, so that the package
 * has no type dependency on `@opentelemetry/api`: its `MeterProvider` fits as is.
 */
export interface MeterProviderLike {
  getMeter(name: string, version?: string): MeterLike;
}

/** The part of an OpenTelemetry `Meter` this library uses. */
export interface MeterLike {
  createHistogram(
    name: string,
    options?: InstrumentOptions,
  ): { record(value: number, attributes?: Attributes): void };
  createCounter(
    name: string,
    options?: InstrumentOptions,
  ): { add(value: number, attributes?: Attributes): void };
}

/** Options given to each instrument (a subset of OpenTelemetry's `MetricOptions`). */
export interface InstrumentOptions {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

type Attributes = Record<string, string | boolean>;

/** Options of {@link enableMetrics}. */
export interface MetricsOptions {
  /**
   * Where the instruments are created.
   * @default the global provider of `@opentelemetry/api` (`metrics.getMeterProvider()`), loaded
   * only now; without that package installed, `enableMetrics` rejects
   */
  meterProvider?: MeterProviderLike;
}

/** Stops recording: see {@link enableMetrics}. */
export interface MetricsHandle extends Disposable {
  /** Unsubscribes the metrics from the diagnostics channels. Idempotent. */
  close(): void;
}

/** The meter's name (the instrumentation scope). */
export const METER_NAME = 'etcd-concurrency';

/** Milliseconds: from a fast uncontended lock to a job-long hold. */
const DURATION_BUCKETS_MS = [
  1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 1_800_000,
];
const RTT_BUCKETS_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

/**
 * Records OpenTelemetry metrics of every primitive from the diagnostics channels (one source of
 * events: the metrics are a subscriber like any other). Opt-in: nothing of OpenTelemetry is
 * loaded, and no channel has a subscriber, until this is called. Call it once per provider; each
 * call records into its own instruments until its handle is closed.
 *
 * Instruments (durations in milliseconds; attributes `primitive`, and `name` = the primitive's
 * name, which should therefore not be unbounded, e.g. one per request):
 * - `etcd_concurrency.wait.duration` histogram: time to acquire, waiting included (`contended`)
 * - `etcd_concurrency.hold.duration` histogram: time held (`outcome`: `released` | `lost`)
 * - `etcd_concurrency.acquisitions` counter (`contended`)
 * - `etcd_concurrency.contended_waits` counter: acquisitions that had to wait behind others
 * - `etcd_concurrency.abandoned_waits` counter: waits that ended without the hold (`outcome`:
 *   `aborted` | `failed`)
 * - `etcd_concurrency.losses` counter (`cause`; sessions have `primitive: 'session'`, no `name`)
 * - `etcd_concurrency.renewals` counter and `etcd_concurrency.renewal.rtt` histogram (sessions)
 * - `etcd_concurrency.reconnects` counter (`stream`: `watch` | `keep-alive`)
 * - `etcd_concurrency.retries` counter (`operation`)
 *
 * @example
 * ```ts
 * import { metrics } from '@opentelemetry/api';
 * metrics.setGlobalMeterProvider(meterProvider); // your SDK setup
 * const handle = await enableMetrics();           // or enableMetrics({ meterProvider })
 * // on shutdown:
 * handle.close();
 * ```
 */
export async function enableMetrics(options: MetricsOptions = {}): Promise<MetricsHandle> {
  const provider = options.meterProvider ?? (await globalMeterProvider());
  const meter = provider.getMeter(METER_NAME);
  const duration = (description: string, buckets = DURATION_BUCKETS_MS): InstrumentOptions => ({
    description,
    unit: 'ms',
    advice: { explicitBucketBoundaries: buckets },
  });
  const waitDuration = meter.createHistogram(
    'etcd_concurrency.wait.duration',
    duration('Time from the call to the acquisition of a lock, permit or leadership, waiting included'),
  );
  const holdDuration = meter.createHistogram(
    'etcd_concurrency.hold.duration',
    duration('Time a lock, permit or leadership was held, until released or lost'),
  );
  const acquisitions = meter.createCounter('etcd_concurrency.acquisitions', {
    description: 'Locks, permits and leaderships acquired',
  });
  const contendedWaits = meter.createCounter('etcd_concurrency.contended_waits', {
    description: 'Acquisitions that had to wait behind other contenders',
  });
  const abandonedWaits = meter.createCounter('etcd_concurrency.abandoned_waits', {
    description: 'Waits that ended without acquiring (aborted by the caller, or failed)',
  });
  const losses = meter.createCounter('etcd_concurrency.losses', {
    description: 'Holds and sessions lost, by cause',
  });
  const renewals = meter.createCounter('etcd_concurrency.renewals', {
    description: 'Acknowledged lease renewals of sessions',
  });
  const renewalRtt = meter.createHistogram(
    'etcd_concurrency.renewal.rtt',
    duration('Round trip of a lease renewal, from send to acknowledgement', RTT_BUCKETS_MS),
  );
  const reconnects = meter.createCounter('etcd_concurrency.reconnects', {
    description: 'Watch and keep-alive streams that work again after breaking',
  });
  const retries = meter.createCounter('etcd_concurrency.retries', {
    description: 'etcd calls tried again after connection trouble',
  });

  const stops = [
    subscribeDiagnostics('wait', (e) => {
      const at = { primitive: e.primitive, name: e.name };
      if (e.phase === 'start') contendedWaits.add(1, at);
      else if (e.outcome !== 'acquired') abandonedWaits.add(1, { ...at, outcome: e.outcome });
    }),
    subscribeDiagnostics('acquire', (e) => {
      const at = { primitive: e.primitive, name: e.name, contended: e.contended };
      acquisitions.add(1, at);
      waitDuration.record(e.durationMs, at);
    }),
    subscribeDiagnostics('release', (e) => {
      holdDuration.record(e.durationMs, { primitive: e.primitive, name: e.name, outcome: 'released' });
    }),
    subscribeDiagnostics('lost', (e) => {
      if (e.primitive === 'session') {
        losses.add(1, { primitive: e.primitive, cause: e.cause });
        return;
      }
      losses.add(1, { primitive: e.primitive, name: e.name, cause: e.cause });
      holdDuration.record(e.durationMs, { primitive: e.primitive, name: e.name, outcome: 'lost' });
    }),
    subscribeDiagnostics('renew', (e) => {
      renewals.add(1, { primitive: e.primitive });
      if (e.durationMs !== undefined) renewalRtt.record(e.durationMs, { primitive: e.primitive });
    }),
    subscribeDiagnostics('reconnect', (e) => {
      reconnects.add(1, { stream: e.stream });
    }),
    subscribeDiagnostics('retry', (e) => {
      retries.add(1, { operation: e.operation });
    }),
  ];
  const close = () => {
    for (const stop of stops.splice(0)) stop();
  };
  return { close, [Symbol.dispose]: close };
}

/** The global meter provider of `@opentelemetry/api`, imported only when asked for. */
async function globalMeterProvider(): Promise<MeterProviderLike> {
  let api: { metrics: { getMeterProvider(): MeterProviderLike } };
  try {
    api = await import('@opentelemetry/api');
  } catch (err) {
    throw new EtcdConcurrencyError(
      'enableMetrics() needs @opentelemetry/api for the global meter provider: install it ' +
        '(npm install @opentelemetry/api) or pass { meterProvider }',
      { cause: err },
    );
  }
  return api.metrics.getMeterProvider();
}
