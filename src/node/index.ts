export { open } from './open-log.js';
export { EmbeddedEventLog } from './embedded-log.js';
export type {
  OrdoNode,
  OpenReport,
  DamagedBatch,
  ScrubStatus,
  WriteState,
  LogMetrics,
  NodeStatus,
  NodeSubscription,
  MembershipChange,
  WriteRequest,
  WriteOutcome,
  WrittenPart,
  CheckedAppend,
} from './node-api.js';
export type { NodeEnvironment, Timers, TimerHandle } from './environment.js';
export type { OpenOptions, ClusterOptions } from './options.js';
export type { PeerTransport, SnapshotEvent } from './replicator.js';
export type { SnapshotFrame } from './snapshot-transfer.js';
export { LogSubscription } from './subscription.js';
export type { RawRecords, RawRun } from './raw-records.js';
export { verifyLog, type VerifyReport } from './verify.js';
export { lifecycleAppend, lifecycleEvent } from './lifecycle-events.js';
export type { RetentionOptions } from './retention.js';
export type { ScavengeOptions } from './scavenge-options.js';
export type { ScavengeResult, ScavengeStats } from './scavenger.js';
