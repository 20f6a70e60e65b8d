import type { DamageLog, Scrubber, ScrubSettings } from '../storage/scrub.js';
import type { SegmentedLog } from '../storage/segmented-log.js';
import type { EngineState } from '../engine/state.js';
import type { LogMetrics, ScrubStatus, WriteState } from '../types/log-metrics.js';
import type { NodeStatus } from './node-api.js';
import type { Publisher } from './publisher.js';
import type { Replicator } from './replicator.js';
import type { Retention } from './retention.js';
import type { ScavengeStats, Scavenger } from './scavenger.js';
import type { WritePath } from './write-path.js';

/** The parts of a node its facts (metrics, status) are read from. */
export interface FactSources {
  readonly publisher: Publisher;
  readonly writes: WritePath;
  readonly storage: SegmentedLog;
  readonly engine: EngineState;
  readonly replicator: Replicator;
  readonly damage: DamageLog;
  readonly scrubber: Scrubber | undefined;
  readonly scrubSettings: ScrubSettings | undefined;
  readonly retention: Retention | undefined;
  readonly scavenger: Scavenger;
  /** Why the node refuses writes now, if it does. */
  writeState(): { state: WriteState; reason: string | undefined };
}

/** Running totals and gauges for /metrics (the server reads them on each scrape). */
export function logMetrics(node: FactSources): LogMetrics {
  const { publisher, writes, storage } = node;
  return {
    headPosition: publisher.committedPosition,
    appends: writes.appends,
    appendedEvents: writes.appendedEvents,
    bytesWritten: storage.stats.bytesWritten,
    fsyncs: storage.stats.syncs,
    streams: node.engine.streams.size,
    liveSubscribers: publisher.liveSubscriptions.size,
    maxSubscriberLag: publisher.maxSubscriberLag(),
    ...scrubMetrics(node),
    writeState: node.writeState().state,
    firstPosition: storage.firstPosition,
    retentionDroppedSegments: node.retention?.stats.droppedSegments ?? 0,
    retentionDroppedBytes: node.retention?.stats.droppedBytes ?? 0,
    ...scavengeMetrics(node.scavenger.stats),
  };
}

type ScavengeMetrics = Pick<
  LogMetrics,
  'scavengePasses' | 'scavengeHoles' | 'scavengeBytesReclaimed' | 'scavengePassProgress' | 'erasuresPending'
>;

function scavengeMetrics(stats: ScavengeStats): ScavengeMetrics {
  const pass = stats.pass;
  return {
    scavengePasses: stats.passes,
    scavengeHoles: stats.holes,
    scavengeBytesReclaimed: stats.bytesReclaimed,
    scavengePassProgress: pass && pass.segmentsTotal > 0 ? pass.segmentsDone / pass.segmentsTotal : 0,
    erasuresPending: stats.pendingErasures,
  };
}

type ScrubMetrics = Pick<
  LogMetrics,
  'scrubVerifiedBytes' | 'scrubPasses' | 'scrubLastPassEndTime' | 'scrubPassProgress' | 'damagedBatches'
>;

function scrubMetrics(node: FactSources): ScrubMetrics {
  const scrub = node.scrubber?.status();
  const pass = scrub?.currentPass;
  return {
    scrubVerifiedBytes: scrub?.verifiedBytes ?? 0,
    scrubPasses: scrub?.passes ?? 0,
    scrubLastPassEndTime: scrub?.lastPassEndTime ?? 0,
    scrubPassProgress: pass && pass.totalBytes > 0 ? pass.verifiedBytes / pass.totalBytes : 0,
    damagedBatches: node.damage.count,
  };
}

/** The scrub's settings and progress, and the damage found, with what to do about it. */
export function scrubStatus(node: FactSources): ScrubStatus {
  const settings = node.scrubSettings;
  const inCluster = node.replicator.status().config.voters.length > 1;
  return {
    enabled: settings !== undefined,
    bytesPerSecond: settings?.bytesPerSecond ?? 0,
    intervalMs: settings?.intervalMs ?? 0,
    verifiedBytes: 0,
    passes: 0,
    lastPassEndTime: undefined,
    currentPass: undefined,
    ...node.scrubber?.status(),
    damagedBatches: node.damage.count,
    damaged: node.damage.list(),
    advice: node.damage.count === 0 ? undefined : damageAdvice(inCluster),
  };
}

/** Storage and Raft facts for `ordo status` and tests. */
export function nodeStatus(node: FactSources): NodeStatus {
  const { progress: _progress, ...raft } = node.replicator.status();
  return {
    headPosition: node.publisher.committedPosition,
    firstPosition: node.storage.firstPosition,
    raft,
    segments: node.storage.describeSegments(),
    streams: node.engine.streams.size,
    subscribers: node.publisher.liveSubscriptions.size,
    scrub: scrubStatus(node),
    scavenge: { ...node.scavenger.stats },
    writes: node.writeState(),
  };
}

/** What an operator does about damaged batches of sealed segments (docs/operations.md). */
function damageAdvice(inCluster: boolean): string {
  return inCluster
    ? 'sealed segments hold damaged batches: restart this node so that it repairs them from its peers'
    : 'sealed segments hold damaged batches: `ordo verify` lists them all; restore the log from a backup';
}
