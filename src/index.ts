export { createClient, type ClientOptions, type TlsOptions } from './etcd/client.js';
export {
  EtcdConcurrencyError,
  SessionExpiredError,
  SessionClosedError,
  HoldLostError,
  LockedError,
  NotLeaderError,
  NoLeaderError,
  SemaphoreFullError,
  SemaphoreConfigError,
  TooManyParticipantsError,
  EtcdUnavailableError,
  PermissionDeniedError,
  InvalidArgumentError,
  StmConflictError,
  type HolderInfo,
} from './errors.js';
export { Session, type SessionOptions, type SessionState, type KeepAliveEvent } from './session/session.js';
export { Hold } from './queue/hold.js';
export { Mutex, type MutexOptions, type LockOptions } from './mutex/mutex.js';
export { RWMutex } from './mutex/rwmutex.js';
export { Election, type CampaignOptions } from './election/election.js';
export type { HeldWork, HoldForeverErrorContext, HoldForeverOptions } from './queue/hold-forever.js';
export type { LeadOptions } from './election/lead.js';
export type { RunExclusiveOptions } from './mutex/run-exclusive.js';
export type { LeaderInfo } from './election/leader.js';
export { Barrier, type BarrierWaitOptions } from './barrier/barrier.js';
export { DoubleBarrier, type DoubleBarrierWaitOptions } from './barrier/double-barrier.js';
export { Semaphore, type SemaphoreOptions, type AcquireOptions } from './semaphore/semaphore.js';
export { Permit } from './semaphore/permit.js';
export type { SemaphoreHolder } from './semaphore/contenders.js';
export {
  DIAGNOSTICS_CHANNELS,
  subscribeDiagnostics,
  type DiagnosticsEventName,
  type DiagnosticsEvents,
  type DiagnosticsPrimitive,
  type DiagnosticsOrigin,
  type ContenderFields,
  type WaitEvent,
  type WaitStartEvent,
  type WaitEndEvent,
  type AcquireEvent,
  type ReleaseEvent,
  type LostEvent,
  type HoldLostEvent,
  type SessionLostEvent,
  type LossCause,
  type RenewEvent,
  type SuspendEvent,
  type SuspendCause,
  type ReconnectEvent,
  type RetryEvent,
} from './diagnostics/events.js';
export {
  enableMetrics,
  METER_NAME,
  type MetricsOptions,
  type MetricsHandle,
  type MeterProviderLike,
  type MeterLike,
  type InstrumentOptions,
} from './diagnostics/metrics.js';
export { stm, type StmTx, type StmOptions, type StmIsolation, type StmPutOptions } from './stm/stm.js';
export { Queue } from './queue-recipes/queue.js';
export { PriorityQueue } from './queue-recipes/priority-queue.js';
export { WorkQueue, type TakeOptions, type ClaimOptions } from './queue-recipes/work-queue.js';
export { Claim, type QueueItem } from './queue-recipes/claim.js';
