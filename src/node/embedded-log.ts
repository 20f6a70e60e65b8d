import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EventStream } from '../stream/index.js';
import {
  AbortedError,
  ClaimConflictError,
  IdConflictError,
  InvalidArgumentError,
  LogClosedError,
  NotLeaderError,
  TimeoutError,
  WrongExpectedCountError,
  describe,
  type Expected,
} from '../types/errors.js';
import type {
  AckMode,
  AppendManyResult,
  AppendOptions,
  AppendResult,
  Event,
  EventInput,
  EventLog,
  ExistsOrWriteResult,
  ReadAllOptions,
  ReadAndSubscribeResult,
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
  checkUniqueIds,
  validateExpected,
  validateFilter,
  validateIndex,
  validateLimit,
  validateStream,
  encodeUtf8Cached,
  type PreparedEvent,
} from '../types/validate.js';
import { decideAppend, type AppendIntent, type Decision, type PlannedAppend } from '../engine/decide.js';
import { applyEvent, newEngineState, positionOf, settleState, truncateState, type AppliedEvent, type EngineState } from '../engine/state.js';
import { encodeClaimChanges, validateClaimChanges, type ClaimChanges } from '../types/claims.js';
import { countAt } from '../engine/stream-state.js';
import { invariantFailed } from '../engine/assert.js';
import { SegmentedLog } from '../storage/segmented-log.js';
import { firstRecordOffset, nextRecordOffset, readBatchHeader } from '../storage/record.js';
import type { Entry, NodeId, RaftStatus } from '../raft/index.js';
import { loadRaftState, type RaftState } from './raft-state-file.js';
import { RaftWindow } from './raft-window.js';
import { Replicator } from './replicator.js';
import { entryOfBatch } from './batch-entry.js';
import { removeStaging } from './snapshot-transfer.js';
import { lockDirectory } from '../storage/dir-lock.js';
import { loadCheckpoint, writeCheckpoint } from './checkpoints.js';
import { RandomIds, WriteArena, decodeBatch, decodeEvent, decodeForReplay, encodeBatch, type StreamPart as EncodedPart } from './event-codec.js';
import { BufferedIterator } from './buffered-iterator.js';
import { rawCollector, type RawRecords } from './raw-records.js';
import { compileFilter } from './filter.js';
import { resolveOptions, type OpenOptions, type ResolvedOptions } from './options.js';
import { LogSubscription, type LiveItem, type SubscriptionSource } from './subscription.js';

/** How long a read with `minPosition` waits for this node to commit that far. */
const MIN_POSITION_TIMEOUT_MS = 10_000;
/** Entries (at most) loaded into Raft's in-memory window at open, before the commit index. */
const WINDOW_LOAD_ENTRIES = 4096;
/**
 * The log looks for subscribers lagging behind the live tail each time this fraction of
 * `subscriberMaxLag` events has been published: a lagging subscriber pins at most ~1.125 × the
 * bound, and the check costs O(live subscribers) per few thousand events, not per event.
 */
const LAG_CHECKS_PER_BOUND = 8;
/**
 * A stage this large is encoded and handed to storage at once instead of at the end of the
 * tick, so its write and fdatasync overlap the encoding of the appends that follow (one
 * frame per tick would serialize: all CPU, then all disk).
 */
const STAGE_FLUSH_EVENTS = 512;
/** Events a stream-filtered catch-up takes from each stream per round. */
const STREAM_CATCH_UP_EVENTS = 1024;
/** Checkpoints come at most every `checkpointEvery` events, and at least 1/this of the log apart. */
const CHECKPOINT_INTERVAL_FRACTION = 4;
/** Bytes a catch-up read takes from disk at once. */
const CATCH_UP_CHUNK_BYTES = 1024 * 1024;
/** Events `read` fetches per disk round trip. */
const READ_BATCH = 256;

interface PendingPublication {
  last: number;
  /** The encoded batch: decoded into events at commit only if someone is on the live tail. */
  bytes: Buffer;
}

interface StreamPart extends EncodedPart {
  expected: Expected;
}

/** What `open` reports about the reopen, for `ordo status` and the reopen benchmark. */
export interface LogMetrics {
  /** The high-water mark. */
  headPosition: number;
  /** Appends accepted since open (an appendMany is one). */
  appends: number;
  appendedEvents: number;
  /** Bytes written to segments since open. */
  bytesWritten: number;
  fsyncs: number;
  streams: number;
  /** Subscriptions on the live tail (those catching up from disk are not counted). */
  liveSubscribers: number;
  /** How far the slowest live subscriber is behind the high-water mark, in events. */
  maxSubscriberLag: number;
}

export interface OpenReport {
  segments: number;
  truncatedBytes: number;
  checkpointPosition: number;
  replayedEvents: number;
}

/**
 * Opens (creating if needed) the log in `dir`, in this process. The returned `EventLog` is the
 * same interface `connect()` returns for a server.
 */
export async function open(dir: string, options?: OpenOptions): Promise<EmbeddedEventLog> {
  const resolved = resolveOptions(options);
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  const unlock = await lockDirectory(root);
  let storage: SegmentedLog | undefined;
  try {
    storage = await SegmentedLog.open(join(root, 'segments'), {
      segmentBytes: resolved.segmentBytes,
      indexIntervalBytes: resolved.indexIntervalBytes,
      fsync: resolved.fsync,
      maxOpenFiles: resolved.maxOpenFiles,
      ...(resolved.wrapSegmentWriter ? { wrapWriter: resolved.wrapSegmentWriter } : {}),
    });
    const checkpointDir = join(root, 'checkpoints');
    const loaded = await loadCheckpoint(checkpointDir, storage.lastPosition, resolved.idWindow);
    const engine = loaded ?? newEngineState(resolved.idWindow);
    const checkpointPosition = engine.nextPosition - 1;
    const replayedEvents = await replay(storage, engine);
    const report: OpenReport = {
      segments: storage.segmentCount,
      truncatedBytes: storage.recovery.truncatedBytes,
      checkpointPosition,
      replayedEvents,
    };
    const stored = await loadRaftState(root);
    if (stored?.nodeId !== undefined) {
      if (options?.cluster === undefined) {
        // A cluster node's directory opened on its own (ordo status, verify…): it is still that node.
        resolved.cluster = { ...resolved.cluster, id: stored.nodeId, peers: [...stored.config.voters] };
      } else if (options.cluster.id !== stored.nodeId) {
        throw new InvalidArgumentError(`${root} holds the data of node ${stored.nodeId}, not of ${describe(options.cluster.id)}: a node's term and vote are its own`);
      }
    }
    const cluster = resolved.cluster;
    const state = { ...(stored ?? initialRaftState(cluster, storage)), nodeId: cluster.id };
    await removeStaging(root); // a snapshot transfer the last run did not finish starts over
    const { window, committedIndex, uncommitted } = await loadWindow(storage, state, Math.min(WINDOW_LOAD_ENTRIES, cluster.windowEntries));
    const log = new EmbeddedEventLog(root, checkpointDir, resolved, storage, engine, unlock, report, window, state, committedIndex, uncommitted);
    await log.start();
    return log;
  } catch (error) {
    await storage?.close().catch(() => undefined);
    await unlock();
    throw error;
  }
}

/** A new node: a single node is a cluster of one; a cluster member starts with the configured voters. */
function initialRaftState(cluster: ResolvedOptions['cluster'], storage: SegmentedLog): RaftState {
  // A log written before it had a Raft state (or whose state file was lost with nothing else)
  // was a single node's: everything in it was committed.
  const single = cluster.peers.length === 1 && cluster.peers[0] === cluster.id;
  const commit = single ? storage.lastIndex : 0;
  return { hardState: { term: storage.lastTerm, vote: '', commit }, config: { voters: cluster.peers, learners: [] }, configIndex: 0 };
}

/**
 * Raft's window: the entries after the commit index (not yet known committed) and up to
 * WINDOW_LOAD_ENTRIES before it, read from the segments.
 */
async function loadWindow(storage: SegmentedLog, state: RaftState, loadEntries: number): Promise<{ window: RaftWindow; committedIndex: number; uncommitted: Array<{ last: number; bytes: Buffer }> }> {
  const first = storage.firstIndex;
  const last = storage.lastIndex;
  // A cluster of one commits what is on its own disk: everything there is committed (the
  // persisted commit index is only a hint, and after a crash it lags). It sends entries to
  // nobody, so its window starts empty. A cluster member keeps a tail for followers that are a
  // little behind (reading more would make every open read that much of the log: at 10M
  // events it took 5 s).
  const single = state.config.voters.length === 1 && state.config.learners.length === 0;
  const committedIndex = single ? last : Math.max(Math.min(state.hardState.commit, last), first - 1);
  const start = Math.max(first - 1, committedIndex - (single ? 0 : loadEntries));
  let batches = last >= Math.max(start, first) ? await readAllBatches(storage, Math.max(start, first), last) : [];
  let snapshot = { index: start, term: 0, config: state.config, nextPosition: storage.lastPosition + 1 };
  if (start >= first) {
    const at = batches[0]!;
    snapshot = { index: start, term: at.term, config: state.config, nextPosition: at.firstPosition + at.count };
    batches = batches.slice(1);
  } else if (batches.length > 0) {
    snapshot.nextPosition = batches[0]!.firstPosition;
  }
  const window = new RaftWindow(state.hardState, snapshot);
  window.append(
    batches.map((b) => entryOfBatch(b)),
    batches.map((b) => b.firstPosition + b.count),
  );
  const uncommitted: Array<{ last: number; bytes: Buffer }> = [];
  for (const b of batches) if (b.entryIndex > committedIndex && b.count > 0) uncommitted.push({ last: b.firstPosition + b.count - 1, bytes: b.bytes });
  return { window, committedIndex, uncommitted };
}

async function readAllBatches(storage: SegmentedLog, from: number, to: number): Promise<Awaited<ReturnType<SegmentedLog['readBatches']>>> {
  const all: Awaited<ReturnType<SegmentedLog['readBatches']>> = [];
  let hint = 0;
  for (let next = from; next <= to; ) {
    const batches = await storage.readBatches(next, to, hint, 4 * 1024 * 1024);
    if (batches.length === 0) break;
    for (const b of batches) all.push(b);
    next = batches[batches.length - 1]!.entryIndex + 1;
    hint = batches[batches.length - 1]!.firstPosition + batches[batches.length - 1]!.count;
  }
  return all;
}

/** Rebuilds the engine from the records after its checkpoint. */
async function replay(storage: SegmentedLog, engine: EngineState): Promise<number> {
  const last = storage.lastPosition;
  let replayed = 0;
  while (engine.nextPosition <= last) {
    const records = await storage.read(engine.nextPosition, last, 4 * 1024 * 1024, decodeForReplay);
    for (const record of records) applyEvent(engine, record);
    replayed += records.length;
  }
  return replayed;
}

export class EmbeddedEventLog implements EventLog {
  private highWaterMark: number;
  private isClosed = false;
  private readonly live = new EventStream<LiveItem>();
  private readonly liveSubscriptions = new Set<LogSubscription>();
  /** Batches written but not yet committed, oldest first from `pendingHead`. */
  private pending: Array<PendingPublication | undefined> = [];
  private pendingHead = 0;
  private commitWaiters: Array<{ position: number; resolve: () => void }> = [];
  private publishedSinceLagCheck = 0;
  private lastCheckpoint: number;
  private checkpointing: Promise<void> | undefined;
  private readonly source: SubscriptionSource;
  private readonly randomIds: RandomIds;
  private readonly arena = new WriteArena();
  private staged: Array<{ parts: StreamPart[]; plan: PlannedAppend[]; ack: AckMode; resolve: (() => void) | undefined; reject: ((error: Error) => void) | undefined }> = [];
  private stageScheduled = false;
  private stagedEvents = 0;
  /** Reused for every event applied on the write path (applyEvent does not keep it). */
  private readonly applied: AppliedEvent = { stream: '', index: 0, position: 0, id: undefined, idGenerated: true, timestamp: 0 };
  private stageTimestamp: number | undefined;
  private appendCount = 0;
  private appendedEvents = 0;
  /** Raft: the one path every write takes, a single node included (a cluster of one). */
  readonly replicator: Replicator;
  /** Last entry index whose events are in the engine, and per uncommitted entry its term and first position. */
  private engineIndex: number;
  private engineEntries = new Map<number, { term: number; position: number }>();

  constructor(
    readonly dir: string,
    private readonly checkpointDir: string,
    private readonly options: ResolvedOptions,
    private readonly storage: SegmentedLog,
    private readonly engine: EngineState,
    private readonly unlock: () => Promise<void>,
    readonly openReport: OpenReport,
    window: RaftWindow,
    state: RaftState,
    committedIndex: number,
    uncommitted: Array<{ last: number; bytes: Buffer }>,
  ) {
    // Everything on disk is in the engine (replayed at open); only the committed prefix is visible.
    this.engineIndex = storage.lastIndex;
    this.highWaterMark = window.positionAfter(committedIndex) - 1;
    for (const entry of uncommitted) this.pending.push(entry);
    this.lastPublishable = storage.lastIndex;
    this.lastCheckpoint = openReport.checkpointPosition;
    this.randomIds = new RandomIds(options.randomFill);
    this.replicator = new Replicator(
      dir,
      storage,
      window,
      state,
      {
        id: options.cluster.id,
        tickMs: options.cluster.tickMs,
        electionTicks: options.cluster.electionTicks,
        heartbeatTicks: options.cluster.heartbeatTicks,
        windowEntries: options.cluster.windowEntries,
      },
      {
        appended: (entry, bytes, first, last) => this.onAppended(entry, bytes, first, last),
        truncated: (index, lastPosition) => this.onTruncated(index, lastPosition),
        committed: (index, _term, lastPosition) => {
          // Committed entries are never replaced: only uncommitted ones are kept here.
          for (const key of this.engineEntries.keys()) {
            if (key > index) break;
            this.engineEntries.delete(key);
          }
          if (lastPosition > this.highWaterMark) this.commit(lastPosition);
          settleState(this.engine, lastPosition);
        },
        roleChanged: (status) => this.options.cluster.onRoleChange?.(status),
        snapshot: (event) => this.options.cluster.onSnapshot?.(event),
      },
    );
    const log = this;
    this.source = {
      committed: () => log.highWaterMark,
      readCommitted: (from, to) => log.readCommitted(from, to, CATCH_UP_CHUNK_BYTES),
      readStreamsCommitted: (streams, after, to) => log.readStreamsCommitted(streams, after, to),
      live: this.live,
      get closed() {
        return log.isClosed;
      },
      attach: (subscription) => log.liveSubscriptions.add(subscription),
      detach: (subscription) => log.liveSubscriptions.delete(subscription),
    };
  }

  /**
   * Starts Raft. A single node elects itself at once and commits a no-op of its new term,
   * which commits whatever the previous run left uncommitted: open() resolves after that, so
   * a reopened log shows everything it held. A cluster member starts following and ticking.
   */
  async start(): Promise<void> {
    this.replicator.start(this.options.cluster.transport);
    // The membership on disk decides (a cluster node's directory opened without its peers stays a follower).
    const { voters } = this.replicator.status().config;
    if (voters.length === 1 && voters[0] === this.options.cluster.id) {
      await this.replicator.settled();
      if (this.replicator.failed) throw this.replicator.failed;
      if (!this.replicator.isLeader) throw new NotLeaderError('open', this.replicator.leader);
    }
  }

  /** This node's Raft state, for `ordo status` and the cluster commands. */
  raftStatus(): RaftStatus {
    return this.replicator.status();
  }

  /** A Raft message from a peer (the server's peer connections hand them here). */
  deliver(message: Parameters<Replicator['deliver']>[0]): void {
    this.replicator.deliver(message);
  }

  get nodeId(): NodeId {
    return this.options.cluster.id;
  }

  /**
   * Changes the membership, one node at a time: add a learner (it receives the log but does
   * not vote), promote it to voter once it has caught up, or remove a node (the leader too).
   * Only the leader takes it; resolves once the change is committed.
   */
  async changeMembership(change: { type: 'add-learner' | 'add-voter' | 'remove'; node: NodeId }): Promise<{ index: number }> {
    this.ensureOpen('cluster');
    if (!this.replicator.isLeader) throw new NotLeaderError(`cluster ${change.type}`, this.replicator.leader);
    const placed = this.replicator.proposeConfigChange(change);
    await placed.committed;
    return { index: placed.index };
  }

  /** Asks the leader to hand leadership to `to` (a voter that has caught up). */
  transferLeadership(to: NodeId): void {
    this.ensureOpen('cluster');
    if (!this.replicator.isLeader) throw new NotLeaderError('cluster transfer-leader', this.replicator.leader);
    const status = this.replicator.status();
    if (!status.config.voters.includes(to)) throw new InvalidArgumentError(`cannot transfer leadership to ${describe(to)}: the voters are ${status.config.voters.join(', ')}`);
    this.replicator.transferLeadership(to);
  }

  /** Only the leader decides appends: against its own log, the prefix its entries commit after. */
  private requireLeader(operation: string): void {
    if (!this.replicator.isLeader) throw new NotLeaderError(operation, this.replicator.leader);
    if (this.engineIndex < this.replicator.nextIndex - 1) this.catchUpEngine();
  }

  /**
   * A new leader's log may end in entries its Ready loop has not written yet (received just
   * before it won): its engine takes them in before it decides anything against it.
   */
  private catchUpEngine(): void {
    const log = this.replicator.raw.raft.log;
    const entries = log.slice(this.engineIndex + 1, log.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
    let next = this.engine.nextPosition;
    for (const entry of entries) {
      const bytes = entry.kind === 'normal' && entry.data.byteLength > 0 ? Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength) : undefined;
      const count = bytes ? readBatchHeader(bytes, 0).count : 0;
      this.onAppended(entry, bytes ?? Buffer.alloc(0), next, next + count - 1);
      next += count;
    }
  }

  /** An entry entered this node's log: its events go into the engine (once), and wait for commit to be published. */
  private onAppended(entry: Entry, bytes: Buffer, first: number, last: number): void {
    const known = this.engineEntries.get(entry.index);
    if (entry.index <= this.engineIndex && known !== undefined && known.term !== entry.term) {
      // The engine holds another leader's entry at this index (never written): forget it and what followed.
      this.forgetFrom(entry.index, known.position - 1);
    }
    if (entry.index > this.engineIndex) {
      if (first !== this.engine.nextPosition) invariantFailed(`entry ${entry.index} starts at position ${first}, the engine is at ${this.engine.nextPosition}`);
      if (last >= first) {
        const header = readBatchHeader(bytes, 0);
        let record = firstRecordOffset(0);
        for (let i = 0; i < header.count; i++) {
          applyEvent(this.engine, decodeForReplay(bytes, record, first + i, header));
          record = nextRecordOffset(bytes, record);
        }
      }
      this.engineIndex = entry.index;
      this.engineEntries.set(entry.index, { term: entry.term, position: first });
    }
    if (last >= first && entry.index > this.lastPublishable) {
      this.pending.push({ last, bytes });
      this.lastPublishable = entry.index;
    }
  }

  /** The entry (index and term) that holds `position`, among those not yet committed. */
  private entryHolding(position: number): { index: number; term: number } | undefined {
    let found: { index: number; term: number } | undefined;
    // In index order, so in position order; an entry without events starts where the next one does.
    for (const [index, entry] of this.engineEntries) {
      if (entry.position > position) break;
      found = { index, term: entry.term };
    }
    return found;
  }

  /** Index of the newest entry queued for publication at commit. */
  private lastPublishable = 0;

  private onTruncated(index: number, lastPosition: number): void {
    this.forgetFrom(index, lastPosition);
  }

  private forgetFrom(index: number, lastPosition: number): void {
    truncateState(this.engine, lastPosition);
    this.engineIndex = Math.min(this.engineIndex, index - 1);
    for (const key of [...this.engineEntries.keys()]) if (key >= index) this.engineEntries.delete(key);
    while (this.pending.length > this.pendingHead && this.pending[this.pending.length - 1]!.last > lastPosition) this.pending.pop();
    this.lastPublishable = Math.min(this.lastPublishable, index - 1);
  }

  // ---- writes ----

  async append(stream: string, events: EventInput | EventInput[], options: AppendOptions = {}): Promise<AppendResult> {
    this.ensureOpen('append');
    if (options.signal?.aborted) throw new AbortedError('append');
    const claims = validateClaimChanges(options.claims, options.releases);
    const part = this.preparePart(stream, validateExpected(options.expected), prepareEvents(events, this.options.maxEventBytes), claims);
    const { appends } = await this.write([part], validateAck(options.ack));
    return pick(appends[0]!);
  }

  async appendMany(appends: StreamAppend[], options: { ack?: AckMode; signal?: AbortSignal } = {}): Promise<AppendManyResult> {
    this.ensureOpen('appendMany');
    if (options.signal?.aborted) throw new AbortedError('appendMany');
    const parts = prepareStreamAppends(appends, this.options.maxEventBytes);
    return this.appendPrepared(parts, validateAck(options.ack));
  }

  /**
   * The write behind `appendMany`, for callers that already hold checked events: the server,
   * whose wire decoder checks the bytes a client sent exactly as `prepareEvents` checks objects.
   */
  async appendPrepared(appends: ReadonlyArray<{ stream: string; expected: Expected; events: PreparedEvent[]; claims?: ClaimChanges | undefined }>, ack: AckMode, resent = false): Promise<AppendManyResult> {
    this.ensureOpen('appendMany');
    const parts = appends.map((append) => this.preparePart(append.stream, append.expected, append.events, append.claims));
    checkUniqueIds(parts);
    const written = await this.write(parts, ack, resent);
    return { position: written.appends[0]!.position, streams: written.appends.map((a) => ({ stream: a.stream, ...pick(a) })) };
  }

  /**
   * Many independent single-stream appends at once (a server's pipelined requests from one
   * read): each is decided on its own and in order, exactly as if appended one after the other,
   * but the ones written share one staged entry and one promise instead of costing a few each.
   * Resolves with one outcome per append: its result, or the error it alone failed with.
   */
  async appendBatch(appends: ReadonlyArray<{ stream: string; expected: Expected; events: PreparedEvent[]; ack: AckMode; resent: boolean; claims?: ClaimChanges | undefined }>): Promise<Array<AppendResult | Error>> {
    this.ensureOpen('append');
    this.requireLeader('append');
    const outcomes = new Array<AppendResult | Error>(appends.length);
    const writtenParts: StreamPart[] = [];
    const writtenPlan: PlannedAppend[] = [];
    const writtenAt: number[] = [];
    const others: Array<Promise<void>> = [];
    for (let i = 0; i < appends.length; i++) {
      const append = appends[i]!;
      let part: StreamPart;
      let decision: Decision;
      try {
        part = this.preparePart(append.stream, append.expected, append.events, append.claims);
        decision = decideAppend(this.engine, [{ stream: part.stream, expected: part.expected, ids: part.events, resent: append.resent, claims: append.claims }]);
      } catch (error) {
        outcomes[i] = error as Error;
        continue;
      }
      if (decision.kind === 'write') {
        this.apply([part], decision.appends);
        writtenParts.push(part);
        writtenPlan.push(decision.appends[0]!);
        writtenAt.push(i);
        outcomes[i] = pick(decision.appends[0]!);
        continue;
      }
      // Duplicates, conflicts and reused ids take the one-by-one path (it decides at once, so the order holds).
      others.push(
        this.write([part], append.ack, append.resent).then(
          ({ appends: planned }) => void (outcomes[i] = pick(planned[0]!)),
          (error: Error) => void (outcomes[i] = error),
        ),
      );
    }
    if (writtenParts.length > 0) {
      const staged = this.stage(writtenParts, writtenPlan, 'quorum', writtenParts.length).catch((error: Error) => {
        for (const i of writtenAt) outcomes[i] = error;
      });
      others.push(staged.then(() => undefined));
    }
    await Promise.all(others);
    return outcomes;
  }

  async existsOrWrite(stream: string, index: number, event: EventInput): Promise<ExistsOrWriteResult> {
    this.ensureOpen('existsOrWrite');
    return this.existsOrWritePrepared(stream, validateIndex(index), prepareEvent(event, this.options.maxEventBytes));
  }

  /** `existsOrWrite` for an already checked event (see `appendPrepared`). */
  async existsOrWritePrepared(stream: string, index: number, event: PreparedEvent, resent = false): Promise<ExistsOrWriteResult> {
    this.ensureOpen('existsOrWrite');
    const expected = validateIndex(index);
    const part = this.preparePart(stream, expected, [event]);
    try {
      const { appends, duplicate } = await this.write([part], 'quorum', resent);
      return { ...pick(appends[0]!), written: !duplicate };
    } catch (error) {
      if (!(error instanceof WrongExpectedCountError) || error.actual <= expected) throw error;
      // Another writer got there first: the event at `index` exists. Answer with it once it is
      // committed as that entry; if another leader's replaced it, nothing is there: try again.
      // (The other write may be staged in this tick: give it its entry first, as for a duplicate.)
      if (this.staged.length > 0) this.flushStaged();
      const position = positionOf(this.engine, part.stream, expected);
      if (position === undefined) return this.existsOrWritePrepared(stream, index, event, resent);
      const entry = position > this.highWaterMark ? this.entryHolding(position) : undefined;
      if (entry && !(await this.replicator.committedAs(entry.index, entry.term))) return this.existsOrWritePrepared(stream, index, event, resent);
      await this.waitCommitted(position);
      return { position, index: expected, count: countAt(this.engine.streams.get(part.stream), this.highWaterMark), written: false };
    }
  }

  async publishTransient(stream: string, event: Omit<EventInput, 'metadata'>): Promise<void> {
    this.ensureOpen('publishTransient');
    this.publishTransientPrepared(stream, prepareEvent(event, this.options.maxEventBytes));
  }

  /** `publishTransient` for an already checked event (see `appendPrepared`). */
  publishTransientPrepared(stream: string, prepared: PreparedEvent): void {
    this.ensureOpen('publishTransient');
    const name = validateStream(stream);
    const transient: TransientEvent = {
      transient: true,
      id: prepared.id ?? this.options.newId(),
      stream: name,
      type: prepared.type,
      data: prepared.data,
      contentType: prepared.contentType,
      timestamp: this.options.clock(),
    };
    this.live.publish(transient);
  }

  private preparePart(stream: unknown, expected: Expected, events: PreparedEvent[], claims?: ClaimChanges): StreamPart {
    const name = validateStream(stream);
    return { stream: name, streamBytes: encodeUtf8Cached(name), expected, events, claims: claims && { changes: claims, bytes: encodeClaimChanges(claims) } };
  }

  /**
   * The one write path. Decides against the engine (which already holds every accepted but not
   * yet committed append, so pipelined appends see each other), applies, encodes and queues
   * the batch for group commit; resolves once committed (or at once for ack 'none').
   */
  private async write(parts: StreamPart[], ack: AckMode, resent = false): Promise<{ appends: PlannedAppend[]; duplicate: boolean }> {
    this.requireLeader('append');
    const intents: AppendIntent[] = parts.map((part) => ({ stream: part.stream, expected: part.expected, ids: part.events, resent, claims: part.claims?.changes }));
    const decision = decideAppend(this.engine, intents);
    switch (decision.kind) {
      case 'write':
        return { appends: await this.accept(parts, decision.appends, ack), duplicate: false };
      case 'duplicate': {
        const last = lastPositionOf(decision.appends);
        // The original may be staged in this very tick: give it its entry now. If it could
        // not be proposed (leadership moved), the engine forgot it: decide again.
        if (this.staged.length > 0) this.flushStaged();
        if (this.engine.nextPosition <= last) return this.write(parts, ack, resent);
        // The original may be in an entry not committed yet, which another leader's entry
        // may still replace (a re-sent request that reaches a leader about to be deposed):
        // answer with it only once it is committed as that entry. Replaced, it was never
        // written, and this request is decided again (found by the chaos run, seed 1).
        const entry = last > this.highWaterMark ? this.entryHolding(last) : undefined;
        if (entry && !(await this.replicator.committedAs(entry.index, entry.term))) return this.write(parts, ack, resent);
        await this.waitCommitted(last);
        return { appends: decision.appends, duplicate: true };
      }
      case 'conflict':
        return { appends: await this.conflict(parts, decision), duplicate: true };
      case 'claim-conflict':
        throw new ClaimConflictError(decision.claim.set, decision.claim.value, decision.operation, decision.holder);
      case 'id-reused': {
        const { stream, index, position } = decision.existing;
        throw new IdConflictError(decision.id, { stream, index, position });
      }
    }
  }

  /**
   * Applies a decided append to the engine at once (so the next decision sees it) and stages
   * it; every append staged in the same tick is encoded into one batch frame by `flushStaged`:
   * one CRC, one storage entry, one write for the lot. Each append keeps its own contiguous
   * positions and the frame is all-or-nothing on disk, so each append still is too.
   */
  private accept(parts: StreamPart[], plan: PlannedAppend[], ack: AckMode): Promise<PlannedAppend[]> {
    this.apply(parts, plan);
    return this.stage(parts, plan, ack);
  }

  /** Applies a decided append to the engine at once, so the next decision sees it. */
  private apply(parts: StreamPart[], plan: PlannedAppend[]): void {
    const applied = this.applied;
    applied.timestamp = this.clockForStage();
    for (let p = 0; p < parts.length; p++) {
      const part = parts[p]!;
      const planned = plan[p]!;
      applied.stream = part.stream;
      for (let k = 0; k < part.events.length; k++) {
        const event = part.events[k]!;
        applied.index = planned.index + k;
        applied.position = planned.position + k;
        applied.id = event.id;
        applied.idGenerated = event.idGenerated;
        applied.retryKey = event.retryKey === true;
        applied.claims = k === 0 ? part.claims?.changes : undefined;
        applyEvent(this.engine, applied);
      }
    }
  }

  /**
   * Stages `appends` applied appends (parts[i] planned at plan[i]); every append staged in the same tick
   * is encoded into one batch frame by `flushStaged`. Resolves once they are committed.
   */
  private stage(parts: StreamPart[], plan: PlannedAppend[], ack: AckMode, appends = 1): Promise<PlannedAppend[]> {
    if (!this.stageScheduled) {
      this.stageScheduled = true;
      queueMicrotask(this.endOfTick);
    }
    let events = 0;
    for (let p = 0; p < plan.length; p++) events += plan[p]!.count - plan[p]!.index;
    this.stagedEvents += events;
    this.appendCount += appends;
    this.appendedEvents += events;
    let result: Promise<PlannedAppend[]>;
    if (ack === 'none') {
      this.staged.push({ parts, plan, ack, resolve: undefined, reject: undefined });
      result = Promise.resolve(plan);
    } else {
      result = new Promise<PlannedAppend[]>((resolve, reject) => {
        this.staged.push({ parts, plan, ack, resolve: () => resolve(plan), reject });
      });
    }
    if (this.stagedEvents >= STAGE_FLUSH_EVENTS) this.flushStaged();
    return result;
  }

  private readonly endOfTick = (): void => {
    this.stageScheduled = false;
    this.flushStaged();
  };

  /** The timestamp of the batch being staged: read once per batch, shared by its events. */
  private clockForStage(): number {
    if (this.stageTimestamp === undefined) this.stageTimestamp = this.options.clock();
    return this.stageTimestamp;
  }

  private readonly flushStaged = (): void => {
    const staged = this.staged;
    this.staged = [];
    this.stagedEvents = 0;
    const timestamp = this.clockForStage();
    this.stageTimestamp = undefined;
    if (staged.length === 0) return;
    const parts: StreamPart[] = [];
    const plan: PlannedAppend[] = [];
    for (const append of staged) {
      for (let p = 0; p < append.parts.length; p++) {
        parts.push(append.parts[p]!);
        plan.push(append.plan[p]!);
      }
    }
    const first = plan[0]!.position;
    let proposed: ReturnType<Replicator['propose']>;
    try {
      // One Raft entry for the lot, encoded for the index and term it will take.
      proposed = this.replicator.propose('append', (term, entryIndex) => encodeBatch(parts, plan, term, entryIndex, timestamp, this.randomIds, this.arena));
    } catch (error) {
      // Leadership moved between the decision and now: nothing was written; the engine forgets them.
      truncateState(this.engine, first - 1);
      for (const append of staged) append.reject?.(error as Error);
      return;
    }
    this.engineIndex = proposed.index;
    this.engineEntries.set(proposed.index, { term: proposed.term, position: first });
    const fail = (error: Error): void => {
      for (const append of staged) append.reject?.(error);
    };
    let leaderAcks: Array<() => void> | undefined;
    const quorumAcks: Array<() => void> = [];
    for (const append of staged) {
      if (!append.resolve) continue;
      if (append.ack === 'leader') (leaderAcks ??= []).push(append.resolve);
      else quorumAcks.push(append.resolve);
    }
    if (leaderAcks) proposed.written.then(() => leaderAcks!.forEach((resolve) => resolve()), fail);
    proposed.committed.then(() => quorumAcks.forEach((resolve) => resolve()), fail);
  };

  /**
   * A failed expected-count check may still be a retry whose ids left the id window: compare
   * the ids stored at the asked indexes with the append's.
   */
  private async conflict(parts: StreamPart[], decision: Extract<Decision, { kind: 'conflict' }>): Promise<PlannedAppend[]> {
    const part = parts[decision.intent]!;
    if (decision.retryOf && parts.length === 1) {
      const { index } = decision.retryOf;
      const first = positionOf(this.engine, part.stream, index)!;
      const last = positionOf(this.engine, part.stream, index + part.events.length - 1)!;
      await this.waitCommitted(last);
      let same = true;
      for (let k = 0; k < part.events.length && same; k++) {
        // Ids made without a string (a client's, past its retry key) are not compared: the key stands for them.
        const id = part.events[k]!.id;
        if (id === undefined) continue;
        const position = positionOf(this.engine, part.stream, index + k)!;
        const [stored] = await this.readCommitted(position, position, 1);
        same = stored?.id === id;
      }
      if (same) {
        return [{ stream: part.stream, position: first, index, count: index + part.events.length }];
      }
    }
    throw new WrongExpectedCountError(decision.stream, decision.expected, decision.actual);
  }

  /** Storage made `position` durable: move the high-water mark and publish, in one step. */
  private commit(position: number): void {
    this.highWaterMark = position;
    // With nobody on the live tail, nobody holds a node before it: publishing would be
    // unobservable (a subscriber catching up reads these from disk), so skip the decoding.
    const anyoneLive = this.liveSubscriptions.size > 0;
    while (this.pendingHead < this.pending.length && this.pending[this.pendingHead]!.last <= position) {
      const batch = this.pending[this.pendingHead]!;
      this.pending[this.pendingHead++] = undefined; // published: its bytes may go
      if (anyoneLive) {
        const events = decodeBatch(batch.bytes);
        this.live.publish(events);
        this.publishedSinceLagCheck += events.length;
      }
    }
    // Under continuous load the queue is never empty at a commit: compact it as it goes.
    if (this.pendingHead === this.pending.length) {
      this.pending = [];
      this.pendingHead = 0;
    } else if (this.pendingHead >= 1024) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
    if (this.commitWaiters.length > 0) {
      const waiting = this.commitWaiters;
      this.commitWaiters = [];
      for (const waiter of waiting) {
        if (waiter.position <= position) waiter.resolve();
        else this.commitWaiters.push(waiter);
      }
    }
    if (this.publishedSinceLagCheck * LAG_CHECKS_PER_BOUND >= this.options.subscriberMaxLag) {
      this.publishedSinceLagCheck = 0;
      this.detachLaggingSubscribers();
    }
    // A checkpoint holds the whole state (8 bytes per event), so a fixed interval would make
    // checkpoints a growing share of all writes (~50% at 10M events): the interval grows with
    // the log instead, keeping them near 20% while a crash replays at most a quarter of it.
    const interval = Math.max(this.options.checkpointEvery, Math.floor(position / CHECKPOINT_INTERVAL_FRACTION));
    if (position - this.lastCheckpoint >= interval && !this.checkpointing) {
      this.checkpointing = this.checkpoint(position).finally(() => (this.checkpointing = undefined));
    }
  }

  private detachLaggingSubscribers(): void {
    const bound = this.highWaterMark - this.options.subscriberMaxLag;
    for (const subscription of this.liveSubscriptions) {
      if (subscription.position < bound) subscription.detachFromTail();
    }
  }

  private async checkpoint(position: number): Promise<void> {
    try {
      await writeCheckpoint(this.checkpointDir, this.engine, position);
      this.lastCheckpoint = position;
    } catch {
      // A missing checkpoint only makes the next open replay more; the log itself is intact.
    }
  }

  private waitCommitted(position: number): Promise<void> {
    if (position <= this.highWaterMark) return Promise.resolve();
    return new Promise((resolve) => this.commitWaiters.push({ position, resolve }));
  }

  // ---- reads ----

  /**
   * Committed records from `from` on, as stored bytes (at most about `maxBytes` and `maxEvents`):
   * what a server sends to a reader of the whole log, without decoding the events.
   */
  async readRaw(from: number, maxBytes: number, maxEvents: number, consistency: ReadAllOptions['consistency'] = 'linearizable'): Promise<RawRecords> {
    this.ensureOpen('read');
    await this.linearize('readAll', consistency);
    const collector = rawCollector(from, maxEvents);
    if (from <= this.highWaterMark) await this.storage.read(from, this.highWaterMark, maxBytes, collector.decode);
    return collector.result();
  }

  private readCommitted(from: number, to: number, maxBytes: number): Promise<Event[]> {
    return this.storage.read(from, Math.min(to, this.highWaterMark), maxBytes, decodeEvent);
  }

  read(stream: string, options: ReadOptions = {}): AsyncIterable<Event> {
    this.ensureOpen('read');
    const name = validateStream(stream, { internal: true });
    const limit = validateLimit(options.limit);
    const backwards = options.backwards === true;
    const from = options.from === undefined ? undefined : validateIndex(options.from, 'from');
    const log = this;
    return {
      [Symbol.asyncIterator]() {
        let count: number | undefined;
        let index = 0;
        let remaining = limit;
        return new BufferedIterator<Event>(async () => {
          if (count === undefined) {
            // The stream as of a linearizable read point (or what this node has, with 'local').
            await log.awaitPosition('read', options.minPosition);
            await log.linearize('read', options.consistency);
            count = countAt(log.engine.streams.get(name), log.highWaterMark);
            index = from ?? (backwards ? count - 1 : 0);
            if (backwards) index = Math.min(index, count - 1);
          }
          if (remaining <= 0 || index < 0 || index >= count) return undefined;
          log.ensureOpen('read');
          const take = Math.min(READ_BATCH, remaining, backwards ? index + 1 : count - index);
          const indexes = Array.from({ length: take }, (_, k) => (backwards ? index - k : index + k));
          remaining -= take;
          index = backwards ? index - take : index + take;
          return log.readIndexes(name, indexes);
        });
      },
    };
  }

  /** Events of `stream` at `indexes` (in that order). */
  private async readIndexes(stream: string, indexes: number[]): Promise<Event[]> {
    const positions = indexes.map((index) => positionOf(this.engine, stream, index)!);
    const byPosition = await this.readPositions([...positions].sort((a, b) => a - b));
    return positions.map((position) => byPosition.get(position)!);
  }

  /** Committed events at `sorted` positions (ascending); nearby positions share one disk read. */
  private async readPositions(sorted: number[]): Promise<Map<number, Event>> {
    const byPosition = new Map<number, Event>();
    let i = 0;
    while (i < sorted.length) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1]! - sorted[j]! <= 16) j++;
      const wanted = new Set(sorted.slice(i, j + 1));
      let from = sorted[i]!;
      while (from <= sorted[j]!) {
        const events = await this.storage.read(from, sorted[j]!, 64 * 1024, decodeEvent);
        if (events.length === 0) break;
        for (const event of events) if (wanted.has(event.position)) byPosition.set(event.position, event);
        from = events[events.length - 1]!.position + 1;
      }
      i = j + 1;
    }
    return byPosition;
  }

  /**
   * Catch-up for a subscription to named streams: the engine knows each stream's positions, so
   * only their events are read, not the whole log. Returns the next events after `after` and
   * the position up to which the log is covered by them.
   */
  private async readStreamsCommitted(streams: readonly string[], after: number, to: number): Promise<{ events: Event[]; coveredTo: number }> {
    const highWaterMark = Math.min(to, this.highWaterMark);
    // Each stream gives at most STREAM_CATCH_UP_EVENTS of its next events. A stream cut short
    // by that cap is complete only up to the last one it gave, so the round covers the log up
    // to the smallest such position (or the mark, when no stream was cut short).
    let coveredTo = highWaterMark;
    const candidates: number[] = [];
    for (const name of streams) {
      const state = this.engine.streams.get(name);
      if (!state) continue;
      const end = countAt(state, highWaterMark);
      const first = firstIndexAfter(state.positions, end, after);
      const stop = Math.min(end, first + STREAM_CATCH_UP_EVENTS);
      for (let index = first; index < stop; index++) candidates.push(state.positions[index]!);
      if (stop < end) coveredTo = Math.min(coveredTo, state.positions[stop - 1]!);
    }
    const positions = candidates.filter((position) => position <= coveredTo).sort((a, b) => a - b);
    const byPosition = await this.readPositions(positions);
    return { events: positions.map((position) => byPosition.get(position)!), coveredTo };
  }



  readAll(options: ReadAllOptions = {}): AsyncIterable<Event> {
    this.ensureOpen('readAll');
    const from = options.from === undefined ? 0 : validateIndex(options.from, 'from');
    const limit = validateLimit(options.limit);
    const matches = compileFilter(validateFilter(options.filter));
    const log = this;
    return {
      [Symbol.asyncIterator]() {
        let end: number | undefined;
        let next = from;
        let remaining = limit;
        return new BufferedIterator<Event>(async () => {
          if (end === undefined) {
            await log.awaitPosition('readAll', options.minPosition);
            await log.linearize('readAll', options.consistency);
            end = log.highWaterMark;
          }
          if (remaining <= 0 || next > end) return undefined;
          log.ensureOpen('readAll');
          const events = await log.readCommitted(next, end, CATCH_UP_CHUNK_BYTES);
          if (events.length === 0) return undefined;
          next = events[events.length - 1]!.position + 1;
          const passed = matches ? events.filter(matches) : events;
          if (passed.length > remaining) passed.length = remaining;
          remaining -= passed.length;
          return passed;
        });
      },
    };
  }

  subscribe(options: SubscribeOptions = {}): LogSubscription {
    this.ensureOpen('subscribe');
    const from = options.from ?? 'start';
    let position: number;
    if (from === 'start') position = 0;
    else if (from === 'end') position = this.highWaterMark + 1;
    else position = validateIndex(from, 'from');
    if (options.minPosition !== undefined) {
      const after = validateIndex(options.minPosition, 'minPosition') + 1;
      if (from === 'end') position = Math.max(position, after);
    }
    const filter = validateFilter(options.filter);
    return new LogSubscription(this.source, position, compileFilter(filter), options.transient === true, options.signal, filter?.streams);
  }

  async readAndSubscribe(stream: string, options: { signal?: AbortSignal } = {}): Promise<ReadAndSubscribeResult> {
    this.ensureOpen('readAndSubscribe');
    const name = validateStream(stream, { internal: true });
    await this.linearize('readAndSubscribe');
    // The cut: history is everything of the stream up to the mark, live is everything after.
    const cut = this.highWaterMark;
    const count = countAt(this.engine.streams.get(name), cut);
    const live = new LogSubscription(this.source, cut + 1, compileFilter({ streams: [name] }), true, options.signal, [name]);
    const history: Event[] = [];
    for await (const event of this.read(name, { limit: count })) history.push(event);
    return { count, history, live };
  }

  async count(stream: string): Promise<number> {
    this.ensureOpen('count');
    const name = validateStream(stream, { internal: true });
    await this.linearize('count');
    return countAt(this.engine.streams.get(name), this.highWaterMark);
  }

  async headPosition(): Promise<number> {
    this.ensureOpen('headPosition');
    await this.linearize('headPosition');
    return this.highWaterMark;
  }

  /** Waits until this node has committed `minPosition` (read-your-writes on a follower). */
  private async awaitPosition(operation: string, minPosition: number | undefined): Promise<void> {
    if (minPosition === undefined || minPosition <= this.highWaterMark) return;
    const position = validateIndex(minPosition, 'minPosition');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`${operation} waiting for position ${position} (committed here: ${this.highWaterMark})`, MIN_POSITION_TIMEOUT_MS)), MIN_POSITION_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.waitCommitted(position), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * In a cluster, waits for a ReadIndex read point (see ReadConsistency) so that what follows
   * sees every write acknowledged before the read began. A single node needs nothing.
   */
  private linearize(operation: string, consistency: ReadAllOptions['consistency'] = 'linearizable'): Promise<void> | undefined {
    if (consistency === 'local') return undefined;
    if (consistency !== 'linearizable') throw new InvalidArgumentError(`invalid consistency ${describe(consistency)}: expected 'linearizable' or 'local'`);
    const raft = this.replicator.raw.raft;
    if (raft.role === 'leader' && raft.tracker.voters.size === 1) return undefined;
    return this.replicator.readIndex(operation).then(() => undefined);
  }

  streams(options: { prefix?: string; limit?: number } = {}): AsyncIterable<StreamInfo> {
    this.ensureOpen('streams');
    const limit = validateLimit(options.limit);
    const prefix = options.prefix ?? '';
    const log = this;
    return {
      async *[Symbol.asyncIterator]() {
        let remaining = limit;
        for (const [stream, state] of log.engine.streams) {
          if (remaining <= 0) return;
          if (!stream.startsWith(prefix)) continue;
          const count = countAt(state, log.highWaterMark);
          if (count === 0) continue;
          yield { stream, count };
          remaining--;
        }
      },
    };
  }

  /** Running totals and gauges for /metrics (the server reads them on each scrape). */
  metrics(): LogMetrics {
    let maxLag = 0;
    for (const subscription of this.liveSubscriptions) maxLag = Math.max(maxLag, this.highWaterMark - subscription.position);
    return {
      headPosition: this.highWaterMark,
      appends: this.appendCount,
      appendedEvents: this.appendedEvents,
      bytesWritten: this.storage.stats.bytesWritten,
      fsyncs: this.storage.stats.syncs,
      streams: this.engine.streams.size,
      liveSubscribers: this.liveSubscriptions.size,
      maxSubscriberLag: maxLag,
    };
  }

  /** Called after each group-commit fdatasync with its duration in seconds (for a latency histogram). */
  set onFsync(listener: ((seconds: number) => void) | undefined) {
    this.storage.onSync = listener;
  }

  /** Storage facts for `ordo status` and tests. */
  status(): { headPosition: number; raft: Omit<RaftStatus, 'progress'>; segments: ReturnType<SegmentedLog['describeSegments']>; streams: number; subscribers: number } {
    const { progress: _progress, ...raft } = this.replicator.status();
    return {
      headPosition: this.highWaterMark,
      raft,
      segments: this.storage.describeSegments(),
      streams: this.engine.streams.size,
      subscribers: this.liveSubscriptions.size,
    };
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The high-water mark, synchronously (what `headPosition()` resolves to). */
  get committedPosition(): number {
    return this.highWaterMark;
  }

  /** Finishes accepted appends, writes a checkpoint, ends every subscription, releases the directory. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    try {
      if (this.staged.length > 0) this.flushStaged(); // accepted in this tick: still written
      await this.replicator.settled();
      await this.storage.drain();
      await this.checkpointing;
      if (this.highWaterMark > this.lastCheckpoint) await this.checkpoint(this.highWaterMark);
    } finally {
      await this.replicator.stop();
      // The commit index makes the next open show the committed prefix at once (it is only a hint).
      await this.replicator.saveState().catch(() => undefined);
      this.live.close();
      for (const waiter of this.commitWaiters) waiter.resolve();
      this.commitWaiters = [];
      await this.storage.close();
      await this.unlock();
    }
  }

  private ensureOpen(operation: string): void {
    if (this.isClosed) throw new LogClosedError(operation);
  }
}

function validateAck(ack: unknown): AckMode {
  if (ack === undefined) return 'quorum';
  if (ack === 'none' || ack === 'leader' || ack === 'quorum') return ack;
  throw new InvalidArgumentError(`invalid ack ${describe(ack)}: expected 'none', 'leader' or 'quorum'`);
}

/** Position of the last event of a planned (contiguous) append. */
function lastPositionOf(plan: readonly PlannedAppend[]): number {
  const last = plan[plan.length - 1]!;
  return last.position + (last.count - last.index) - 1;
}

function pick(result: PlannedAppend): AppendResult {
  return { position: result.position, index: result.index, count: result.count };
}

/** The first index in `positions[0, count)` whose position is beyond `after` (binary search). */
function firstIndexAfter(positions: Float64Array, count: number, after: number): number {
  let low = 0;
  let high = count;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (positions[mid]! <= after) low = mid + 1;
    else high = mid;
  }
  return low;
}
