import { InvalidArgumentError, describe } from '../types/errors.js';
import { DEFAULT_MAX_EVENT_BYTES } from '../types/validate.js';
import { DEFAULT_ID_WINDOW, type IdWindowLimits } from '../engine/id-window.js';
import {
  DEFAULT_INDEX_INTERVAL_BYTES,
  DEFAULT_MAX_OPEN_FILES,
  DEFAULT_SEGMENT_BYTES,
  type WrapWriter,
} from '../storage/segmented-log.js';
import { parseFsyncPolicy, type FsyncPolicy, type FsyncPolicyText } from '../storage/fsync-policy.js';
import type { NodeId, RaftStatus } from '../raft/index.js';
import type { PeerTransport, SnapshotEvent } from './replicator.js';
import type { ReplicatorOptions } from './replication-ports.js';
import { systemEnvironment, type NodeEnvironment } from './environment.js';
import { nodeFileSystem, type FileSystem } from '../storage/file-system.js';
import { resolveScavenge, type ScavengeOptions, type ScavengeSettings } from './scavenge-options.js';
import { resolveRetention, type RetentionOptions, type RetentionSettings } from './retention.js';
import { DEFAULT_SCRUB_BYTES_PER_SECOND, DEFAULT_SCRUB_INTERVAL_MS, type ScrubSettings } from '../storage/scrub.js';

/** This log as one member of a Raft cluster. Without it, the log is a cluster of one. */
export interface ClusterOptions {
  /** This node's id (`n1`, …). */
  id: NodeId;
  /**
   * The voters a new cluster starts with. Ignored once the node has a Raft state. A node not
   * among them starts outside the membership and waits to be added (`ordo cluster add`).
   */
  peers: NodeId[];
  /** Sends Raft messages to the other nodes; their messages come in through `log.deliver()`. */
  transport?: PeerTransport | undefined;
  /** Milliseconds per Raft tick. Default 50: elections time out after 0.5–1 s without a leader. */
  tickMs?: number | undefined;
  electionTicks?: number | undefined;
  heartbeatTicks?: number | undefined;
  /** Told when this node's role or known leader changes. */
  onRoleChange?: ((status: RaftStatus) => void) | undefined;
  /**
   * Applied entries each node keeps in memory for followers that fall behind (default
   * 200,000, and at most 256 MiB of them). A follower further behind, or a new node, gets a
   * snapshot: it pulls the segments it lacks from the leader.
   */
  windowEntries?: number | undefined;
  /** Told when a snapshot is offered to a follower, installed on this node, or given up. */
  onSnapshot?: ((event: SnapshotEvent) => void) | undefined;
}

export const DEFAULT_NODE_ID = 'n1';
export const DEFAULT_TICK_MS = 50;
export const DEFAULT_WINDOW_ENTRIES = 200_000;

export interface OpenOptions {
  /** Default `'always'`: an append is acknowledged only after the fdatasync that covers it. */
  fsync?: FsyncPolicyText | undefined;
  /** Segment files roll at this size. Default 64 MiB. */
  segmentBytes?: number | undefined;
  /** Largest event (data + metadata + type). Default 1 MiB. */
  maxEventBytes?: number | undefined;
  /** Idempotency window for `expected: 'any'`. Default 100,000 ids and 2 minutes. */
  idWindow?: Partial<IdWindowLimits> | undefined;
  /**
   * Write an index checkpoint every this many events (or every quarter of the log, when that
   * is more), so a reopen after a crash replays at most that many. Default 1,000,000.
   */
  checkpointEvery?: number | undefined;
  /**
   * A subscriber further than this many events behind the live
   * tail is moved back to reading from disk. Default 100,000.
   */
  subscriberMaxLag?: number | undefined;
  /** Read file handles kept open at most. Default 32. */
  maxOpenFiles?: number | undefined;
  /** Milliseconds since the epoch, for event timestamps. Injected for tests. */
  clock?: (() => number) | undefined;
  /** Fills bytes with randomness, for the ids of events appended without one. Injected for tests. */
  randomFill?: ((target: Uint8Array) => void) | undefined;
  /**
   * Time, timers and randomness (a simulation runs the real node on virtual ones). `clock`
   * and `randomFill` above are shorthands for the same fields here.
   */
  environment?: Partial<NodeEnvironment> | undefined;
  /** The file system the node's files live on (default: Node's). A simulation passes a virtual disk. */
  fileSystem?: FileSystem | undefined;
  /** Replication: this log as a member of a Raft cluster (default: a cluster of one). */
  cluster?: ClusterOptions | undefined;
  /**
   * The background scrub that re-verifies sealed segments (which open does not scan): at most
   * `bytesPerSecond` (default 4 MiB/s), one pass at most every `intervalMs` (default a day).
   * `false` turns it off.
   */
  scrub?: Partial<ScrubSettings> | false | undefined;
  /**
   * Whole-log retention (Kafka's `retention.ms` / `retention.bytes`): the oldest sealed
   * segments are removed once older than `maxAge` milliseconds or while the log is larger than
   * `maxBytes`. Positions never change; reading what went fails with `PositionTrimmedError`.
   * Default: everything is kept. Not yet in a cluster (docs/lifecycle.md).
   */
  retention?: RetentionOptions | false | undefined;
  /**
   * Scavenging, which removes the bytes of events that stream metadata, deletions and
   * tombstones made gone for good (docs/lifecycle.md): a pass at most every `intervalMs`
   * (default 10 minutes) at most `bytesPerSecond` (default 64 MiB/s). `false`: only
   * `scavenge()` and erasures run it.
   */
  scavenge?: ScavengeOptions | false | undefined;
  /**
   * For tests: wraps the file handle that writes of the active segment go through (the
   * power-loss test records what each fdatasync made durable, and drops the rest).
   */
  wrapSegmentWriter?: WrapWriter | undefined;
}

export interface ResolvedOptions {
  fsync: FsyncPolicy;
  segmentBytes: number;
  indexIntervalBytes: number;
  maxEventBytes: number;
  idWindow: IdWindowLimits;
  checkpointEvery: number;
  subscriberMaxLag: number;
  maxOpenFiles: number;
  env: NodeEnvironment;
  fs: FileSystem;
  wrapSegmentWriter: WrapWriter | undefined;
  cluster: ResolvedClusterOptions;
  /** Undefined: no scrub. */
  scrub: ScrubSettings | undefined;
  /** Undefined: everything is kept. */
  retention: RetentionSettings | undefined;
  scavenge: ScavengeSettings;
}

/** ClusterOptions with every default filled in. */
export interface ResolvedClusterOptions {
  id: NodeId;
  peers: NodeId[];
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  windowEntries: number;
  transport: PeerTransport | undefined;
  onRoleChange: ((status: RaftStatus) => void) | undefined;
  onSnapshot: ((event: SnapshotEvent) => void) | undefined;
}

export function resolveOptions(options: OpenOptions = {}): ResolvedOptions {
  return {
    fsync: parseFsyncPolicy(options.fsync ?? 'always'),
    segmentBytes: positiveInteger('segmentBytes', options.segmentBytes, DEFAULT_SEGMENT_BYTES, 4096),
    indexIntervalBytes: DEFAULT_INDEX_INTERVAL_BYTES,
    maxEventBytes: positiveInteger('maxEventBytes', options.maxEventBytes, DEFAULT_MAX_EVENT_BYTES, 1),
    idWindow: {
      maxCount: positiveInteger('idWindow.maxCount', options.idWindow?.maxCount, DEFAULT_ID_WINDOW.maxCount, 0),
      maxAgeMs: positiveInteger('idWindow.maxAgeMs', options.idWindow?.maxAgeMs, DEFAULT_ID_WINDOW.maxAgeMs, 0),
    },
    checkpointEvery: positiveInteger('checkpointEvery', options.checkpointEvery, 1_000_000, 1),
    subscriberMaxLag: positiveInteger('subscriberMaxLag', options.subscriberMaxLag, 100_000, 1),
    maxOpenFiles: positiveInteger('maxOpenFiles', options.maxOpenFiles, DEFAULT_MAX_OPEN_FILES, 1),
    fs: options.fileSystem ?? nodeFileSystem,
    env: systemEnvironment({
      ...options.environment,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.randomFill ? { randomFill: options.randomFill } : {}),
    }),
    wrapSegmentWriter: options.wrapSegmentWriter,
    cluster: resolveCluster(options.cluster),
    scrub: resolveScrub(options.scrub),
    retention: resolveRetention(options.retention),
    scavenge: resolveScavenge(options.scavenge),
  };
}

/** Slowest scrub rate accepted: below it a pass over one segment would take hours. */
const MIN_SCRUB_BYTES_PER_SECOND = 4096;

function resolveScrub(scrub: OpenOptions['scrub']): ScrubSettings | undefined {
  if (scrub === false) return undefined;
  if (scrub !== undefined && (typeof scrub !== 'object' || scrub === null || Array.isArray(scrub)))
    throw new InvalidArgumentError(
      `invalid option scrub ${describe(scrub)}: expected false or { bytesPerSecond?, intervalMs? }`,
    );
  return {
    bytesPerSecond: positiveInteger(
      'scrub.bytesPerSecond',
      scrub?.bytesPerSecond,
      DEFAULT_SCRUB_BYTES_PER_SECOND,
      MIN_SCRUB_BYTES_PER_SECOND,
    ),
    intervalMs: positiveInteger('scrub.intervalMs', scrub?.intervalMs, DEFAULT_SCRUB_INTERVAL_MS, 1),
  };
}

function resolveCluster(cluster: ClusterOptions | undefined): ResolvedClusterOptions {
  const id = cluster?.id ?? DEFAULT_NODE_ID;
  if (typeof id !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(id))
    throw new InvalidArgumentError(
      `invalid cluster.id ${describe(id)}: expected 1–64 letters, digits, '_', '.' or '-'`,
    );
  const peers = cluster?.peers ?? [id];
  if (
    !Array.isArray(peers) ||
    peers.length === 0 ||
    new Set(peers).size !== peers.length ||
    !peers.every((p) => typeof p === 'string' && p !== '')
  ) {
    throw new InvalidArgumentError(`invalid cluster.peers ${describe(peers)}: expected distinct node ids`);
  }
  const electionTicks = positiveInteger('cluster.electionTicks', cluster?.electionTicks, 10, 2);
  const heartbeatTicks = positiveInteger('cluster.heartbeatTicks', cluster?.heartbeatTicks, 1, 1);
  if (heartbeatTicks >= electionTicks)
    throw new InvalidArgumentError(
      `invalid cluster.heartbeatTicks ${heartbeatTicks}: expected fewer than electionTicks (${electionTicks})`,
    );
  return {
    id,
    peers: [...peers].sort(),
    tickMs: positiveInteger('cluster.tickMs', cluster?.tickMs, DEFAULT_TICK_MS, 1),
    electionTicks,
    heartbeatTicks,
    windowEntries: positiveInteger('cluster.windowEntries', cluster?.windowEntries, DEFAULT_WINDOW_ENTRIES, 4),
    transport: cluster?.transport,
    onRoleChange: cluster?.onRoleChange,
    onSnapshot: cluster?.onSnapshot,
  };
}

function positiveInteger(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min) return value;
  throw new InvalidArgumentError(`invalid option ${name} ${describe(value)}: expected an integer >= ${min}`);
}

/** What the replicator takes of the resolved options. */
export function replicatorOptions(options: ResolvedOptions): ReplicatorOptions {
  const { cluster, env } = options;
  return {
    id: cluster.id,
    tickMs: cluster.tickMs,
    electionTicks: cluster.electionTicks,
    heartbeatTicks: cluster.heartbeatTicks,
    windowEntries: cluster.windowEntries,
    random: env.random,
    timers: env.timers,
    monotonicNow: env.monotonicNow,
    fs: options.fs,
    idWindow: options.idWindow,
  };
}
