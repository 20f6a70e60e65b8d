export { open, EmbeddedEventLog, type OpenReport, type LogMetrics } from './embedded-log.js';
export type { OpenOptions, ClusterOptions } from './options.js';
export type { PeerTransport, SnapshotEvent } from './replicator.js';
export type { SnapshotFrame } from './snapshot-transfer.js';
export { LogSubscription } from './subscription.js';
export type { RawRecords, RawRun } from './raw-records.js';
