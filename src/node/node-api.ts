import type { Message, NodeId, RaftStatus } from '../raft/index.js';
import type { ClaimChanges } from '../types/claims.js';
import type { LifecycleChange } from '../engine/lifecycle.js';
import type { GoneFloors } from '../engine/state.js';
import type { ScavengeResult, ScavengeStats } from './scavenger.js';
import type { Expected, StorageFailedError } from '../types/errors.js';
import type { DamagedBatch, LogMetrics, ScrubStatus, WriteState } from '../types/log-metrics.js';
import type {
  AckMode,
  Event,
  EventLog,
  ReadAllOptions,
  ReadAndSubscribeResult,
  SubscribeOptions,
  Subscription,
  TransientEvent,
} from '../types/event.js';
import type { PreparedEvent } from '../types/validate.js';
import type { StreamLifecycle } from '../types/stream-metadata.js';
import type { SegmentedLog } from '../storage/segmented-log.js';
import type { DamageCut, Truncation } from '../storage/segment-recovery.js';
import type { RawRecords } from './raw-records.js';
import type { SnapshotFrame } from './snapshot-transfer.js';

/** One stream's part of a write whose events were already checked (by `prepareEvents` or the wire decoder). */
export interface CheckedAppend {
  readonly stream: string;
  readonly expected: Expected;
  readonly events: PreparedEvent[];
  readonly claims?: ClaimChanges | undefined;
  /**
   * Set only on the one-event append to a metadata stream (`lifecycleAppend`): the change it
   * makes, and the stream whose count `expected` checks when not the one written.
   */
  readonly lifecycle?: { readonly change: LifecycleChange; readonly expectedOf?: string | undefined } | undefined;
  /** Set only on a scavenge point (`scavengePointAppend`): the floors its one event sets. */
  readonly gone?: GoneFloors | undefined;
}

/**
 * A write as the node takes it: one atomic append of one or more streams' parts.
 * `resent` marks a client's re-send of a request it never heard back from (its ids are retry
 * keys). `existsOrWrite` turns an expected-count conflict into an answer: when another event
 * already holds the single part's expected index, the outcome is that event, not an error.
 */
export interface WriteRequest {
  readonly parts: readonly CheckedAppend[];
  readonly ack: AckMode;
  readonly resent: boolean;
  readonly existsOrWrite?: boolean;
}

/** Where one part of a write landed: its first event's position and stream index, and the stream's count after it. */
export interface WrittenPart {
  readonly stream: string;
  readonly position: number;
  readonly index: number;
  readonly count: number;
}

/** A write's result: its parts, and whether it wrote them (false: an earlier copy or an existing event answered). */
export interface WriteOutcome {
  readonly parts: readonly WrittenPart[];
  readonly written: boolean;
}

/** What `open` reports about the reopen, for `ordo status` and the reopen benchmark. */
export interface OpenReport {
  segments: number;
  truncatedBytes: number;
  /** Each torn tail open cut off (file, offset, bytes): never acknowledged data. */
  truncations: Truncation[];
  /** Segments open rewrote from format version 2 to the current one. */
  upgradedSegments: number;
  /** Damage a cluster member cut its log at (file, offset, reason): its peers re-send the rest. */
  damageCuts: DamageCut[];
  checkpointPosition: number;
  replayedEvents: number;
}

// Defined with the shared types, so the browser console can name it without the node's code.
export type { DamagedBatch, LogMetrics, ScrubStatus, WriteState };

/** A subscription as a server pumps it: besides the iterator, it hands over what is ready without waiting. */
export interface NodeSubscription extends Subscription<Event | TransientEvent> {
  /** True while on the live tail (false while catching up from disk). */
  readonly isLive: boolean;
  /** Moves up to `max` items that are ready now into `into`; returns how many. */
  takeReady(into: Array<Event | TransientEvent>, max: number): number;
}

/**
 * A membership change of one node. Several at once, if they change more than one voter, go
 * through a joint configuration that the leader leaves by itself.
 */
export interface MembershipChange {
  type: 'add-learner' | 'add-voter' | 'remove';
  node: NodeId;
  /** Where the peers reach the node (`host:port`); every member learns it from the config. */
  address?: string | undefined;
}

/** Storage and Raft facts for `ordo status`. */
export interface NodeStatus {
  headPosition: number;
  /** The oldest position still readable (0 until retention removes the first segments). */
  firstPosition: number;
  raft: Omit<RaftStatus, 'progress'>;
  segments: ReturnType<SegmentedLog['describeSegments']>;
  streams: number;
  subscribers: number;
  /** The background scrub, and the damaged batches found by it or by reads. */
  scrub: ScrubStatus;
  /** Scavenging and erasures so far, and the pass under way. */
  scavenge: ScavengeStats;
  /** Whether appends are taken, and if not, the error they fail with. */
  writes: { state: WriteState; reason?: string | undefined };
}

/**
 * The node as a server (or a command) talks to it: the `EventLog` every user has, plus the
 * writes of already checked input, raw reads for catch-up, and the cluster's operations. The
 * server depends on this interface only, never on the classes behind it.
 */
export interface OrdoNode extends EventLog, StreamLifecycle {
  readonly dir: string;
  readonly nodeId: NodeId;
  readonly closed: boolean;
  readonly openReport: OpenReport;
  /** The high-water mark, synchronously (what `headPosition()` resolves to). */
  readonly committedPosition: number;
  /** The oldest position still readable (retention removes whole segments from the front). */
  readonly firstPosition: number;
  /** Resolves once every erasure committed on this node has removed its bytes here. */
  erasuresDone(): Promise<void>;
  /** Scavenges now (see `Scavenger`): a scavenge point on the leader, then a pass here. */
  scavenge(): Promise<ScavengeResult>;
  /**
   * The one write entry point for checked input. Each request is decided on its own and in
   * order, exactly as if written one after the other; the ones written in one turn share one
   * Raft entry. Resolves with one outcome per request: its result, or the error it alone
   * failed with. Rejects as a whole only when the node cannot write at all (closed, not leader).
   */
  write(requests: readonly WriteRequest[]): Promise<Array<WriteOutcome | Error>>;
  /** Publishes a checked transient event to live subscribers (never stored). */
  publish(stream: string, event: PreparedEvent): void;
  subscribe(options?: SubscribeOptions): NodeSubscription;
  readAndSubscribe(
    stream: string,
    options?: { signal?: AbortSignal },
  ): Promise<ReadAndSubscribeResult & { live: NodeSubscription }>;
  /** Committed records from `from` ('start': the first kept) on, as stored bytes (at most about `maxBytes` and `maxEvents`). */
  readRaw(
    from: number | 'start',
    maxBytes: number,
    maxEvents: number,
    consistency?: ReadAllOptions['consistency'],
  ): Promise<RawRecords>;
  metrics(): LogMetrics;
  status(): NodeStatus;
  /** Called after each group-commit fdatasync with its duration in seconds. */
  onFsync: ((seconds: number) => void) | undefined;
  /** Told once of each damaged batch of a sealed segment that a read or the scrub finds. */
  onDamage: ((damage: DamagedBatch) => void) | undefined;
  /**
   * Calls `listener` once if the node stops because its storage failed (an fdatasync or a
   * write failed: see docs/operations.md); at once if it already has. Never called on close.
   */
  onStopped(listener: (error: StorageFailedError) => void): void;
  raftStatus(): RaftStatus;
  /** A Raft message or a snapshot chunk from a peer. */
  deliver(message: Message | SnapshotFrame): void;
  /** The transport could not reach `peer`: Raft probes it again instead of streaming to it. */
  reportUnreachable(peer: NodeId): void;
  changeMembership(change: MembershipChange | readonly MembershipChange[]): Promise<{ index: number }>;
  transferLeadership(to: NodeId): void;
}
