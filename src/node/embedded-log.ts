import { join } from 'node:path';
import {
  AbortedError,
  InvalidArgumentError,
  LogClosedError,
  NotLeaderError,
  describe,
  type StorageFailedError,
} from '../types/errors.js';
import type {
  AckMode,
  AppendManyResult,
  AppendOptions,
  AppendResult,
  Event,
  EventInput,
  ExistsOrWriteResult,
  ReadAllOptions,
  ReadOptions,
  StreamAppend,
  StreamInfo,
  SubscribeOptions,
  TransientEvent,
} from '../types/event.js';
import {
  prepareEvent,
  prepareEvents,
  prepareStreamAppends,
  validateAck,
  validateExpected,
  validateFilter,
  validateIndex,
  validateStream,
  type PreparedEvent,
} from '../types/validate.js';
import { validateClaimChanges } from '../types/claims.js';
import type { ConfigChange, Message, NodeId, RaftStatus } from '../raft/index.js';
import type { RawRecords } from './raw-records.js';
import type { SegmentedLog } from '../storage/segmented-log.js';
import { DamageLog, Scrubber } from '../storage/scrub.js';
import { forgetSegmentIndex } from '../storage/segment.js';
import type { DamagedBatch, ScrubStatus } from '../types/log-metrics.js';
import { Replicator } from './replicator.js';
import { checkpointFloor, writeCheckpoint } from './checkpoints.js';
import { Retention } from './retention.js';
import { logMetrics, nodeStatus, scrubStatus, type FactSources } from './node-facts.js';
import { compileFilter } from './filter.js';
import { replicatorOptions, type ResolvedOptions } from './options.js';
import { LogSubscription, type SubscriptionSource } from './subscription.js';
import { EngineFollower } from './engine-follower.js';
import { Publisher } from './publisher.js';
import { WritePath } from './write-path.js';
import { CATCH_UP_CHUNK_BYTES, LogReads } from './log-reads.js';
import { Visibility } from './visibility.js';
import { LifecycleOps } from './lifecycle-ops.js';
import type {
  DeleteStreamOptions,
  EraseStreamOptions,
  EraseStreamResult,
  DeleteStreamResult,
  GetStreamMetadataOptions,
  SetStreamMetadataOptions,
  SetStreamMetadataResult,
  StreamMetadata,
  StreamMetadataResult,
} from '../types/stream-metadata.js';
import type { SnapshotFrame } from './snapshot-transfer.js';
import type { RaftWindow } from './raft-window.js';
import type { RaftState } from './raft-state-file.js';
import type { PendingBatch } from './publisher.js';
import { forgetPositionsBelow, type EngineState } from '../engine/state.js';
import { Scavenger, type ScavengeResult } from './scavenger.js';
import { loadErasedThrough, saveErasedThrough } from './erasure-progress.js';
import { scavengePointAppend } from './lifecycle-events.js';
import type {
  LogMetrics,
  MembershipChange,
  NodeStatus,
  NodeSubscription,
  OpenReport,
  OrdoNode,
  WriteOutcome,
  WriteRequest,
} from './node-api.js';

/**
 * What a reopened node's Raft starts from: its window of entries,
 * its state, and what on disk is not yet known committed.
 */
export interface RecoveredRaft {
  window: RaftWindow;
  state: RaftState;
  committedIndex: number;
  uncommitted: PendingBatch[];
}

/** Everything `open` recovered from the directory, handed to the node it starts. */
export interface RecoveredNode {
  dir: string;
  options: ResolvedOptions;
  storage: SegmentedLog;
  engine: EngineState;
  unlock: () => Promise<void>;
  openReport: OpenReport;
  raft: RecoveredRaft;
}

/**
 * One node of Ordo, in this process: the `EventLog` over its parts. Raft (the replicator) is
 * the one path every write takes, a single node included (a cluster of one); the engine
 * follower applies what enters the Raft log to the engine; the write path decides and stages
 * appends; the publisher makes commits visible; reads serve the committed prefix.
 */
export class EmbeddedEventLog implements OrdoNode {
  readonly dir: string;
  readonly openReport: OpenReport;
  private isClosed = false;
  /** Set once the node stopped on a storage failure: every operation from then on fails with it. */
  private stoppedBy: StorageFailedError | undefined;
  private readonly stopListeners: Array<(error: StorageFailedError) => void> = [];
  private readonly options: ResolvedOptions;
  private readonly storage: SegmentedLog;
  private readonly unlock: () => Promise<void>;
  private readonly replicator: Replicator;
  private readonly follower: EngineFollower;
  private readonly publisher: Publisher;
  private readonly writes: WritePath;
  private readonly reads: LogReads;
  private readonly source: SubscriptionSource;
  private readonly visibility: Visibility;
  private readonly lifecycle: LifecycleOps;
  /** Damaged batches found by reads and by the scrub, each reported once. */
  private readonly damage: DamageLog;
  private readonly scrubber: Scrubber | undefined;
  private readonly retention: Retention | undefined;
  private readonly scavenger: Scavenger;
  /** Where metrics and status are read from (node-facts.ts). */
  private readonly facts: FactSources;

  constructor(recovered: RecoveredNode) {
    const { options, storage, engine, raft } = recovered;
    this.dir = recovered.dir;
    this.openReport = recovered.openReport;
    this.options = options;
    this.storage = storage;
    this.unlock = recovered.unlock;
    const checkpointDir = join(recovered.dir, 'checkpoints');
    this.publisher = new Publisher(
      {
        subscriberMaxLag: options.subscriberMaxLag,
        checkpointEvery: options.checkpointEvery,
        saveCheckpoint: (position) => writeCheckpoint(checkpointDir, engine, position, options.fs),
      },
      {
        committedPosition: raft.window.positionAfter(raft.committedIndex) - 1,
        uncommitted: raft.uncommitted,
        lastQueuedIndex: storage.lastIndex,
        checkpointPosition: recovered.openReport.checkpointPosition,
      },
    );
    this.follower = new EngineFollower(engine, this.publisher, storage.lastIndex, {
      roleChanged: (status) => options.cluster.onRoleChange?.(status),
      snapshot: (event) => options.cluster.onSnapshot?.(event),
      tombstonesSettled: (streams) => this.scavenger.erased(streams),
      settled: (position) => this.scavenger.settled(position),
      logReplaced: () => this.scavenger.logReplaced(),
    });
    this.replicator = new Replicator(
      recovered.dir,
      storage,
      raft.window,
      raft.state,
      replicatorOptions(options),
      this.follower,
    );
    this.visibility = new Visibility(engine, () => this.publisher.committedPosition, options.env.clock);
    this.reads = new LogReads(storage, engine, this.publisher, this.replicator, options.env.timers, this.visibility);
    this.writes = new WritePath(this.follower, this.publisher, this.replicator, {
      clock: options.env.clock,
      randomFill: options.env.randomFill,
      readEventAt: (position) => this.reads.eventAt(position),
      writesRefused: () => this.stoppedBy ?? storage.diskFull,
    });
    this.source = this.subscriptionSource();
    this.lifecycle = new LifecycleOps({
      engine,
      mark: () => this.publisher.committedPosition,
      write: (request) => this.writeOne(request),
      linearize: (operation, consistency) => this.reads.linearize(operation, consistency),
    });
    this.damage = new DamageLog(options.env.clock, (damage) => this.repairAtNextOpen(damage));
    storage.onCorrupt = (error) => this.damage.report(error, 'read');
    this.scrubber = options.scrub
      ? new Scrubber(storage, options.scrub, this.damage, {
          fs: options.fs,
          clock: options.env.clock,
          timers: options.env.timers,
        })
      : undefined;
    this.retention = options.retention
      ? new Retention(options.retention, {
          storage,
          timers: options.env.timers,
          clock: options.env.clock,
          committed: () => this.publisher.committedPosition,
          checkpointFloor: () => checkpointFloor(checkpointDir, options.fs),
          dropped: (firstPosition) => forgetPositionsBelow(engine, firstPosition),
        })
      : undefined;
    this.scavenger = new Scavenger(options.scavenge, {
      storage,
      engine,
      timers: options.env.timers,
      clock: options.env.clock,
      committed: () => this.publisher.committedPosition,
      committedIndex: () => this.replicator.appliedEntryIndex,
      isLeader: () => this.replicator.isLeader,
      writePoint: async (floors) => {
        await this.writeOne({ parts: [scavengePointAppend(floors)], ack: 'quorum', resent: false });
      },
      timestampAt: async (position) => (await this.reads.eventAt(position))?.timestamp,
      reportDamage: (error) => this.damage.report(error, 'read'),
      loadErasedThrough: () => loadErasedThrough(recovered.dir, options.fs),
      saveErasedThrough: (position) => saveErasedThrough(recovered.dir, position, options.fs),
    });
    this.facts = {
      publisher: this.publisher,
      writes: this.writes,
      storage,
      engine,
      replicator: this.replicator,
      damage: this.damage,
      scrubber: this.scrubber,
      scrubSettings: options.scrub,
      retention: this.retention,
      scavenger: this.scavenger,
      writeState: () => {
        const refusal = this.stoppedBy ?? storage.diskFull;
        const state = this.stoppedBy ? 'stopped' : storage.diskFull ? 'disk-full' : 'accepting';
        return { state, reason: refusal?.message };
      },
    };
    storage.onFailure = (error) => this.replicator.halt(error);
    this.replicator.onHalt = (error) => this.stop(error);
  }

  /** Calls `listener` if this node stops on a storage failure (see `stop`); never on close. */
  onStopped(listener: (error: StorageFailedError) => void): void {
    if (this.stoppedBy) listener(this.stoppedBy);
    else this.stopListeners.push(listener);
  }

  /**
   * The node's storage failed (a failed fdatasync: nothing written since the last good one can
   * be trusted, and a retry would not tell). It stops: pending appends fail as of unknown
   * outcome (the replicator's doing), and everything else, pending or later, with `error`.
   * Only a restart, which recovers from what is really on disk, brings it back.
   */
  private stop(error: StorageFailedError): void {
    if (this.stoppedBy) return;
    this.stoppedBy = error;
    this.publisher.fail(error);
    // Closing with appends waiting for a full disk gives them up: that is no failure to report.
    const listeners = this.stopListeners.splice(0);
    if (!this.isClosed) for (const listener of listeners) listener(error);
  }

  /**
   * Starts Raft. A single node elects itself at once and commits a no-op of its new term,
   * which commits whatever the previous run left uncommitted: open() resolves after that, so
   * a reopened log shows everything it held. A cluster member starts following and ticking.
   */
  async start(): Promise<void> {
    this.replicator.start(this.options.cluster.transport);
    this.scrubber?.start();
    this.retention?.start();
    this.scavenger.start();
    // The membership on disk decides (a cluster node's directory opened without its peers stays a follower).
    const { voters } = this.replicator.status().config;
    if (voters.length === 1 && voters[0] === this.options.cluster.id) {
      await this.replicator.settled();
      if (this.replicator.failed) throw this.replicator.failed;
      if (!this.replicator.isLeader) throw new NotLeaderError('open', this.replicator.leader);
    }
  }

  // ---- writes ----

  async append(stream: string, events: EventInput | EventInput[], options: AppendOptions = {}): Promise<AppendResult> {
    this.ensureOpen('append');
    if (options.signal?.aborted) throw new AbortedError('append');
    const claims = validateClaimChanges(options.claims, options.releases);
    const expected = validateExpected(options.expected);
    const prepared = prepareEvents(events, this.options.maxEventBytes);
    const part = { stream: validateStream(stream), expected, events: prepared, claims };
    const outcome = await this.writeOne({ parts: [part], ack: validateAck(options.ack), resent: false });
    return pick(outcome.parts[0]!);
  }

  async appendMany(
    appends: StreamAppend[],
    options: { ack?: AckMode; signal?: AbortSignal } = {},
  ): Promise<AppendManyResult> {
    this.ensureOpen('appendMany');
    if (options.signal?.aborted) throw new AbortedError('appendMany');
    const parts = prepareStreamAppends(appends, this.options.maxEventBytes);
    const outcome = await this.writeOne({ parts, ack: validateAck(options.ack), resent: false });
    return {
      position: outcome.parts[0]!.position,
      streams: outcome.parts.map((part) => ({ stream: part.stream, ...pick(part) })),
    };
  }

  async existsOrWrite(stream: string, index: number, event: EventInput): Promise<ExistsOrWriteResult> {
    this.ensureOpen('existsOrWrite');
    const expected = validateIndex(index);
    const events = [prepareEvent(event, this.options.maxEventBytes)];
    const part = { stream: validateStream(stream), expected, events };
    const outcome = await this.writeOne({ parts: [part], ack: 'quorum', resent: false, existsOrWrite: true });
    return { ...pick(outcome.parts[0]!), written: outcome.written };
  }

  write(requests: readonly WriteRequest[]): Promise<Array<WriteOutcome | Error>> {
    // A stopped node is not refused here: the write path tells a re-send its outcome is unknown.
    if (this.isClosed) throw new LogClosedError('append');
    return this.writes.write(requests);
  }

  async publishTransient(stream: string, event: Omit<EventInput, 'metadata'>): Promise<void> {
    this.ensureOpen('publishTransient');
    this.publish(stream, prepareEvent(event, this.options.maxEventBytes));
  }

  publish(stream: string, prepared: PreparedEvent): void {
    this.ensureOpen('publishTransient');
    const name = validateStream(stream);
    const transient: TransientEvent = {
      transient: true,
      id: prepared.id ?? this.options.env.newId(),
      stream: name,
      type: prepared.type,
      data: prepared.data,
      contentType: prepared.contentType,
      timestamp: this.options.env.clock(),
    };
    this.publisher.publishTransient(transient);
  }

  // ---- stream metadata, deletion ----

  setStreamMetadata(
    stream: string,
    metadata: StreamMetadata,
    options?: SetStreamMetadataOptions,
  ): Promise<SetStreamMetadataResult> {
    this.ensureOpen('setStreamMetadata');
    return this.lifecycle.setStreamMetadata(stream, metadata, options);
  }

  getStreamMetadata(stream: string, options?: GetStreamMetadataOptions): Promise<StreamMetadataResult> {
    this.ensureOpen('getStreamMetadata');
    return this.lifecycle.getStreamMetadata(stream, options);
  }

  deleteStream(stream: string, options?: DeleteStreamOptions): Promise<DeleteStreamResult> {
    this.ensureOpen('deleteStream');
    return this.lifecycle.deleteStream(stream, options);
  }

  erase(stream: string, options: EraseStreamOptions = {}): Promise<EraseStreamResult> {
    this.ensureOpen('erase');
    return this.lifecycle.erase(stream, options, () => this.scavenger.erasuresDone());
  }

  /** Resolves once every erasure committed on this node has removed its bytes here. */
  erasuresDone(): Promise<void> {
    return this.scavenger.erasuresDone();
  }

  /**
   * Scavenges now: on the leader, a scavenge point makes what stream metadata hides now gone
   * for good on every node; then this node rewrites its sealed segments without those events.
   */
  scavenge(): Promise<ScavengeResult> {
    this.ensureOpen('scavenge');
    return this.scavenger.scavenge();
  }

  private async writeOne(request: WriteRequest): Promise<WriteOutcome> {
    const [outcome] = await this.writes.write([request]);
    if (outcome instanceof Error) throw outcome;
    return outcome!;
  }

  // ---- reads ----

  async readRaw(
    from: number | 'start',
    maxBytes: number,
    maxEvents: number,
    consistency?: ReadAllOptions['consistency'],
  ): Promise<RawRecords> {
    this.ensureOpen('read');
    return this.reads.readRaw(from, maxBytes, maxEvents, consistency);
  }

  read(stream: string, options: ReadOptions = {}): AsyncIterable<Event> {
    this.ensureOpen('read');
    return this.reads.read(stream, options, () => this.ensureOpen('read'));
  }

  readAll(options: ReadAllOptions = {}): AsyncIterable<Event> {
    this.ensureOpen('readAll');
    return this.reads.readAll(options, () => this.ensureOpen('readAll'));
  }

  subscribe(options: SubscribeOptions = {}): NodeSubscription {
    this.ensureOpen('subscribe');
    const from = options.from ?? 'start';
    let position: number;
    if (from === 'start') position = this.reads.firstPosition;
    else if (from === 'end') position = this.publisher.committedPosition + 1;
    else position = validateIndex(from, 'from');
    if (options.minPosition !== undefined) {
      const after = validateIndex(options.minPosition, 'minPosition') + 1;
      if (from === 'end') position = Math.max(position, after);
    }
    const filter = validateFilter(options.filter);
    return new LogSubscription(
      this.source,
      position,
      compileFilter(filter),
      options.transient === true,
      options.signal,
      filter?.streams,
    );
  }

  async readAndSubscribe(
    stream: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ count: number; history: Event[]; live: NodeSubscription }> {
    this.ensureOpen('readAndSubscribe');
    const name = validateStream(stream, { internal: true });
    await this.reads.linearize('readAndSubscribe');
    // The cut: history is everything of the stream up to the mark, live is everything after.
    const cut = this.publisher.committedPosition;
    const count = this.reads.countOf(name, cut);
    const live = new LogSubscription(this.source, cut + 1, compileFilter({ streams: [name] }), true, options.signal, [
      name,
    ]);
    const history: Event[] = [];
    for await (const event of this.read(name, { limit: count })) history.push(event);
    return { count, history, live };
  }

  async count(stream: string): Promise<number> {
    this.ensureOpen('count');
    const name = validateStream(stream, { internal: true });
    await this.reads.linearize('count');
    return this.reads.countOf(name);
  }

  /** The oldest position still readable: 0 until retention removes the first segments. */
  get firstPosition(): number {
    return this.reads.firstPosition;
  }

  async headPosition(): Promise<number> {
    this.ensureOpen('headPosition');
    await this.reads.linearize('headPosition');
    return this.publisher.committedPosition;
  }

  streams(options: { prefix?: string; limit?: number } = {}): AsyncIterable<StreamInfo> {
    this.ensureOpen('streams');
    return this.reads.streams(options);
  }

  // ---- the cluster ----

  get nodeId(): NodeId {
    return this.options.cluster.id;
  }

  /** This node's Raft state, for `ordo status` and the cluster commands. */
  raftStatus(): RaftStatus {
    return this.replicator.status();
  }

  deliver(message: Message | SnapshotFrame): void {
    this.replicator.deliver(message);
  }

  reportUnreachable(peer: NodeId): void {
    this.replicator.reportUnreachable(peer);
  }

  /**
   * Changes the membership: add a learner (it receives the log but does not vote), promote it
   * to voter once it has caught up, or remove a node (the leader too). Several changes at once
   * that change more than one voter go through a joint configuration, left by itself. Only the
   * leader takes it; resolves once the change is committed.
   */
  async changeMembership(change: MembershipChange | readonly MembershipChange[]): Promise<{ index: number }> {
    this.ensureOpen('cluster');
    if (!this.replicator.isLeader) throw new NotLeaderError('cluster change', this.replicator.leader);
    const changes = Array.isArray(change) ? change.map(configChange) : configChange(change as MembershipChange);
    const placed = this.replicator.proposeConfigChange(changes);
    await placed.committed;
    return { index: placed.index };
  }

  /** Asks the leader to hand leadership to `to` (a voter that has caught up). */
  transferLeadership(to: NodeId): void {
    this.ensureOpen('cluster');
    if (!this.replicator.isLeader) throw new NotLeaderError('cluster transfer-leader', this.replicator.leader);
    const status = this.replicator.status();
    if (!status.config.voters.includes(to)) {
      throw new InvalidArgumentError(
        `cannot transfer leadership to ${describe(to)}: the voters are ${status.config.voters.join(', ')}`,
      );
    }
    this.replicator.transferLeadership(to);
  }

  // ---- facts ----

  /** Running totals and gauges for /metrics (the server reads them on each scrape). */
  metrics(): LogMetrics {
    return logMetrics(this.facts);
  }

  /** Told once of each damaged batch a read or the scrub finds (the server logs it). */
  get onDamage(): ((damage: DamagedBatch) => void) | undefined {
    return this.damage.onDamage;
  }

  set onDamage(listener: ((damage: DamagedBatch) => void) | undefined) {
    this.damage.onDamage = listener;
  }

  /**
   * A cluster member repairs a damaged sealed segment at its next open: without the segment's
   * index file, open scans it, finds the damage, marks the node recovering and cuts its log
   * there, and the leader sends the rest again. A single node keeps the index: it has no other
   * copy, and would otherwise refuse to open at all instead of failing only the reads that
   * reach the damage.
   */
  private repairAtNextOpen(damage: DamagedBatch): void {
    if (this.replicator.status().config.voters.length <= 1) return;
    forgetSegmentIndex(damage.file, this.options.fs).catch(() => {
      // The damage is reported either way; an index that stays only delays the repair to a scrub.
    });
  }

  /** The scrub's settings and progress, and the damage found, with what to do about it. */
  scrubStatus(): ScrubStatus {
    return scrubStatus(this.facts);
  }

  /** Called after each group-commit fdatasync with its duration in seconds (for a latency histogram). */
  get onFsync(): ((seconds: number) => void) | undefined {
    return this.storage.onSync;
  }

  set onFsync(listener: ((seconds: number) => void) | undefined) {
    this.storage.onSync = listener;
  }

  /** Storage facts for `ordo status` and tests. */
  status(): NodeStatus {
    return nodeStatus(this.facts);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get committedPosition(): number {
    return this.publisher.committedPosition;
  }

  /** Finishes accepted appends, writes a checkpoint, ends every subscription, releases the directory. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    await this.scrubber?.stop();
    await this.retention?.stop();
    await this.scavenger.stop();
    try {
      this.writes.flush(); // accepted in this tick: still written
      this.storage.abandonWaitingForSpace(); // what waits for a full disk cannot be finished
      await this.replicator.settled();
      await this.storage.drain();
      await this.publisher.checkpointNow();
    } finally {
      await this.replicator.stop();
      // The commit index makes the next open show the committed prefix at once (it is only a hint).
      await this.replicator.saveState().catch(() => undefined);
      this.publisher.close();
      await this.storage.close();
      await this.unlock();
    }
  }

  private subscriptionSource(): SubscriptionSource {
    const log = this;
    const { publisher, reads } = this;
    return {
      committed: () => publisher.committedPosition,
      readCommitted: (from, to) => reads.readCommitted(from, to, CATCH_UP_CHUNK_BYTES, 'subscribe'),
      readStreamsCommitted: (streams, after, to) => reads.readStreamsCommitted(streams, after, to),
      live: publisher.live,
      get closed() {
        return log.isClosed;
      },
      visibility: () => this.visibility.predicate(),
      attach: (subscription) => publisher.liveSubscriptions.add(subscription),
      detach: (subscription) => publisher.liveSubscriptions.delete(subscription),
    };
  }

  private ensureOpen(operation: string): void {
    if (this.isClosed) throw new LogClosedError(operation);
    if (this.stoppedBy) throw this.stoppedBy;
  }
}

function pick(part: { position: number; index: number; count: number }): AppendResult {
  return { position: part.position, index: part.index, count: part.count };
}

/** Raft's form of a membership change (an address only where a node is added). */
function configChange(change: MembershipChange): ConfigChange {
  if (change.type === 'remove') return { type: 'remove', node: change.node };
  return change.address === undefined
    ? { type: change.type, node: change.node }
    : { type: change.type, node: change.node, address: change.address };
}
