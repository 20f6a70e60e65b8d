import { join, resolve } from 'node:path';
import { InvalidArgumentError, describe } from '../types/errors.js';
import { applyEvent, forgetPositionsBelow, newEngineState, settleState, type EngineState } from '../engine/state.js';
import { SegmentedLog } from '../storage/segmented-log.js';
import type { IntervalTimers } from '../storage/time.js';
import type { Timers } from './environment.js';
import { lockDirectory } from '../storage/dir-lock.js';
import { makeDirectoryDurable } from '../storage/file-io.js';
import { nodeFileSystem } from '../storage/file-system.js';
import { indexFile } from '../storage/segment.js';
import { SEGMENT_SUFFIX } from '../storage/segment-file.js';
import { loadRaftState, saveRaftState, type RaftState } from './raft-state-file.js';
import type { BeforeCut } from '../storage/segment-recovery.js';
import { CorruptLogError } from '../types/errors.js';
import { RaftWindow } from './raft-window.js';
import { entryOfBatch } from './batch-entry.js';
import { removeStaging } from './snapshot-transfer.js';
import { loadCheckpoint, newestCheckpoint } from './checkpoints.js';
import { decodeForReplay } from './event-codec.js';
import { resolveOptions, type OpenOptions, type ResolvedOptions } from './options.js';
import { EmbeddedEventLog, type RecoveredRaft } from './embedded-log.js';
import type { OpenReport } from './node-api.js';
import type { PendingBatch } from './publisher.js';

/** Entries (at most) loaded into Raft's in-memory window at open, before the commit index. */
const WINDOW_LOAD_ENTRIES = 4096;
/** Opens tried in a row, each after removing the index of one damaged sealed segment. */
const MAX_OPEN_ATTEMPTS = 8;
/** Bytes one read of the segments takes at open (replay and the window). */
const OPEN_READ_BYTES = 4 * 1024 * 1024;

/**
 * Opens (creating if needed) the log in `dir`, in this process. The returned `EventLog` is the
 * same interface `connect()` returns for a server.
 */
export async function open(dir: string, options?: OpenOptions): Promise<EmbeddedEventLog> {
  const root = resolve(dir);
  for (let attempt = 1; ; attempt++) {
    try {
      return await openOnce(root, options);
    } catch (error) {
      if (attempt >= MAX_OPEN_ATTEMPTS || !(await forgetDamagedSegmentIndex(root, error, options))) throw error;
    }
  }
}

/**
 * A sealed segment whose index file is valid is not scanned at open, so damage in it shows up
 * only when open reads through it (replaying events, loading Raft's window). On a cluster
 * member that read's `CorruptLogError` is not the end: the segment's index file is removed and
 * open runs again, and this time the scan finds the damage and cuts the log there (after
 * marking the node recovering), for the leader to send the rest again. Returns whether it did.
 */
async function forgetDamagedSegmentIndex(root: string, error: unknown, options?: OpenOptions): Promise<boolean> {
  if (!(error instanceof CorruptLogError) || !error.file.endsWith(SEGMENT_SUFFIX)) return false;
  const fs = options?.fileSystem ?? nodeFileSystem;
  if (!isClusterMember(await loadRaftState(root, fs), options)) return false;
  try {
    await fs.unlink(indexFile(error.file));
    return true;
  } catch {
    return false; // no index file: the segment was scanned already, and another open would fail alike
  }
}

async function openOnce(root: string, options: OpenOptions | undefined): Promise<EmbeddedEventLog> {
  const resolved = resolveOptions(options);
  await makeDirectoryDurable(root, resolved.fs);
  const unlock = await lockDirectory(root, resolved.fs);
  let storage: SegmentedLog | undefined;
  try {
    const stored = await loadRaftState(root, resolved.fs);
    const lost = new LostData(root, stored, resolved, options);
    storage = await openSegments(root, resolved, lost.cutAtDamage());
    await lost.check(storage);
    const { engine, openReport } = await recoverEngine(root, storage, resolved);
    const state = await recoverRaftState(root, storage, resolved, options);
    await removeStaging(root, undefined, resolved.fs); // a snapshot transfer the last run did not finish starts over
    const loadEntries = Math.min(WINDOW_LOAD_ENTRIES, resolved.cluster.windowEntries);
    const known = await committedByCheckpoint(storage, openReport.checkpointPosition);
    if (known > state.hardState.commit) state.hardState = { ...state.hardState, commit: known };
    const raft = await loadWindow(storage, state, loadEntries);
    const log = new EmbeddedEventLog({ dir: root, options: resolved, storage, engine, unlock, openReport, raft });
    await log.start();
    return log;
  } catch (error) {
    await storage?.close().catch(() => undefined);
    await unlock();
    throw error;
  }
}

function openSegments(root: string, resolved: ResolvedOptions, cutAtDamage?: BeforeCut): Promise<SegmentedLog> {
  return SegmentedLog.open(join(root, 'segments'), {
    ...(cutAtDamage ? { cutAtDamage } : {}),
    segmentBytes: resolved.segmentBytes,
    indexIntervalBytes: resolved.indexIntervalBytes,
    fsync: resolved.fsync,
    maxOpenFiles: resolved.maxOpenFiles,
    ...(resolved.wrapSegmentWriter ? { wrapWriter: resolved.wrapSegmentWriter } : {}),
    fs: resolved.fs,
    clock: resolved.env.clock,
    monotonicNow: resolved.env.monotonicNow,
    timers: backgroundIntervals(resolved.env.timers),
  });
}

/** The storage's interval timers on the node's: they must not keep the process alive. */
function backgroundIntervals(timers: Timers): IntervalTimers {
  return {
    setInterval: (callback, ms) => {
      const timer = timers.setInterval(callback, ms);
      timer.unref();
      return timer;
    },
    clearInterval: (timer) => timers.clearInterval(timer),
  };
}

/** A node started as a member of a cluster, whether or not it has written its raft-state yet (see LostData). */
function isClusterMember(stored: RaftState | undefined, options: OpenOptions | undefined): boolean {
  if (options?.cluster === undefined) return false;
  return options.cluster.peers.length > 1 || (stored?.config.voters.length ?? 0) > 1;
}

/**
 * Data this node had made durable and no longer holds. Under fsync 'always' three things show
 * it: damage inside the log, a persisted commit index beyond the log's last entry (it only
 * ever covers entries already fsynced), and on a single node a checkpoint beyond the log's end
 * (it only holds committed events, which a single node has fsynced). A torn tail shows none of
 * them: it was never acknowledged, and is cut silently (and reported).
 *
 * A single node has no other copy: open fails, naming what is missing. A cluster member marks
 * itself recovering in its raft-state (before cutting anything), then cuts its log at the
 * first damage; Raft then keeps it from voting until a leader has brought it back
 * (raft/types.ts HardState.recovering).
 */
class LostData {
  constructor(
    private readonly root: string,
    private readonly stored: RaftState | undefined,
    private readonly resolved: ResolvedOptions,
    private readonly options: OpenOptions | undefined,
  ) {}

  /**
   * The Raft state of a cluster node without a raft-state file: term 0 and no vote (it adopts
   * the first leader's term), the configured voters.
   */
  private newNodeState(): RaftState {
    const cluster = this.resolved.cluster;
    return {
      hardState: { term: 0, vote: '', commit: 0 },
      config: { voters: [...cluster.peers], learners: [] },
      configIndex: 0,
      nodeId: cluster.id,
    };
  }

  /** Why entries were lost, in the order found. */
  private readonly reasons: string[] = [];

  /**
   * A node started as a member of a cluster (raft-state or not). A cluster member's directory
   * opened on its own (ordo status) reports damage instead of changing anything.
   */
  private get member(): boolean {
    return isClusterMember(this.stored, this.options);
  }

  /** The storage's hook for damage: a cluster member cuts (after marking itself); a single node fails. */
  cutAtDamage(): BeforeCut | undefined {
    // A member without a raft-state file is marked too, in one written for it: the file can be
    // lost after its entries were acknowledged (a failed fdatasync of its first write, then a
    // power cut), so having none proves nothing.
    if (!this.member) return undefined;
    return (damage) => this.markRecovering(`damage in the log: ${damage.message}`);
  }

  async check(storage: SegmentedLog): Promise<void> {
    if (this.resolved.fsync.kind !== 'always') return;
    const commit = this.stored?.hardState.commit ?? 0;
    if (commit > storage.lastIndex) {
      const reason = `raft-state says entries up to ${commit} are committed but the log ends at ${storage.lastIndex}`;
      await this.lost(join(this.root, 'raft-state'), reason);
      return;
    }
    // Not on a cluster member: that its checkpoints cover only what its own disk synced is not
    // established, and a false alarm on every node after a power cut would leave no voter.
    if (this.member) return;
    const checkpoint = await newestCheckpoint(join(this.root, 'checkpoints'), this.resolved.fs);
    if (checkpoint !== undefined && checkpoint > storage.lastPosition) {
      const reason = `a checkpoint holds events up to position ${checkpoint} but the log ends at ${storage.lastPosition}`;
      await this.lost(join(this.root, 'checkpoints', `${checkpoint}.ckpt`), reason);
    }
  }

  private async lost(file: string, reason: string): Promise<void> {
    if (!this.member) {
      throw new CorruptLogError(file, 0, `${reason}: data this node had fsynced is gone (restore it from a backup)`);
    }
    await this.markRecovering(reason);
  }

  private async markRecovering(reason: string): Promise<void> {
    const stored = this.stored ?? this.newNodeState();
    this.reasons.push(reason);
    const hardState = { ...stored.hardState, recovering: this.reasons.join('; ') };
    await saveRaftState(this.root, { ...stored, hardState }, this.resolved.fs);
  }
}

/**
 * The entry holding a checkpoint's last event: a checkpoint holds committed events only, so
 * that entry was committed, whatever the persisted commit index (a lagging hint) says. Raft
 * must start at least there: the engine loaded from the checkpoint cannot take back what it
 * covers (a snapshot install cuts the log after the commit index).
 */
async function committedByCheckpoint(storage: SegmentedLog, checkpointPosition: number): Promise<number> {
  if (checkpointPosition < 0) return 0;
  const [entry] = await storage.read(
    checkpointPosition,
    checkpointPosition,
    1,
    (_b, _o, _p, batch) => batch.entryIndex,
  );
  return entry ?? 0;
}

/** The engine from the newest usable checkpoint, then every record after it replayed. */
async function recoverEngine(
  root: string,
  storage: SegmentedLog,
  resolved: ResolvedOptions,
): Promise<{ engine: EngineState; openReport: OpenReport }> {
  const checkpoints = join(root, 'checkpoints');
  const loaded = await loadCheckpoint(checkpoints, storage.lastPosition, resolved.idWindow, resolved.fs);
  const dropped = storage.logStart.position;
  if (dropped >= 0 && (!loaded || loaded.nextPosition - 1 < dropped)) {
    throw new CorruptLogError(
      checkpoints,
      0,
      `the log starts at position ${dropped + 1} (retention removed what came before), but no usable checkpoint covers position ${dropped}: restore the directory from a backup`,
    );
  }
  const engine = loaded ?? newEngineState(resolved.idWindow);
  const checkpointPosition = engine.nextPosition - 1;
  // What a checkpoint holds is committed: no truncation may reach below it.
  settleState(engine, checkpointPosition);
  if (dropped >= 0) forgetPositionsBelow(engine, dropped + 1);
  const replayedEvents = await replay(storage, engine);
  const openReport = {
    segments: storage.segmentCount,
    truncatedBytes: storage.recovery.truncatedBytes,
    truncations: storage.recovery.truncations,
    damageCuts: storage.recovery.damageCuts,
    upgradedSegments: storage.recovery.upgradedSegments,
    checkpointPosition,
    replayedEvents,
  };
  return { engine, openReport };
}

/** Rebuilds the engine from the records after its checkpoint. */
async function replay(storage: SegmentedLog, engine: EngineState): Promise<number> {
  const last = storage.lastPosition;
  let replayed = 0;
  while (engine.nextPosition <= last) {
    const records = await storage.read(engine.nextPosition, last, OPEN_READ_BYTES, decodeForReplay);
    for (const record of records) applyEvent(engine, record);
    replayed += records.length;
  }
  return replayed;
}

/** The node's term, vote and membership: from its state file, or those of a new node. */
async function recoverRaftState(
  root: string,
  storage: SegmentedLog,
  resolved: ResolvedOptions,
  options: OpenOptions | undefined,
): Promise<RaftState> {
  const stored = await loadRaftState(root, resolved.fs);
  if (stored?.nodeId !== undefined) {
    if (options?.cluster === undefined) {
      // A cluster node's directory opened on its own (ordo status, verify…): it is still that node.
      resolved.cluster = { ...resolved.cluster, id: stored.nodeId, peers: [...stored.config.voters] };
    } else if (options.cluster.id !== stored.nodeId) {
      throw new InvalidArgumentError(
        `${root} holds the data of node ${stored.nodeId}, not of` +
          ` ${describe(options.cluster.id)}: a node's term and vote are its own`,
      );
    }
  }
  const cluster = resolved.cluster;
  return { ...(stored ?? initialRaftState(cluster, storage)), nodeId: cluster.id };
}

/** A new node: a single node is a cluster of one; a cluster member starts with the configured voters. */
function initialRaftState(cluster: ResolvedOptions['cluster'], storage: SegmentedLog): RaftState {
  // A log written before it had a Raft state (or whose state file was lost with nothing else)
  // was a single node's: everything in it was committed.
  const single = cluster.peers.length === 1 && cluster.peers[0] === cluster.id;
  const commit = single ? storage.lastIndex : 0;
  return {
    hardState: { term: storage.lastTerm, vote: '', commit },
    config: { voters: cluster.peers, learners: [] },
    configIndex: 0,
  };
}

/**
 * Raft's window: the entries after the commit index (not yet known committed) and up to
 * `loadEntries` before it, read from the segments.
 */
async function loadWindow(storage: SegmentedLog, state: RaftState, loadEntries: number): Promise<RecoveredRaft> {
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
  // Below the first segment: what retention dropped (its last entry's term, for Raft's log matching).
  let snapshot = {
    index: start,
    term: storage.logStart.term,
    config: state.config,
    nextPosition: storage.lastPosition + 1,
  };
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
  const uncommitted: PendingBatch[] = [];
  for (const b of batches)
    if (b.entryIndex > committedIndex && b.count > 0)
      uncommitted.push({ last: b.firstPosition + b.count - 1, bytes: b.bytes });
  return { window, state, committedIndex, uncommitted };
}

type StoredBatches = Awaited<ReturnType<SegmentedLog['readBatches']>>;

async function readAllBatches(storage: SegmentedLog, from: number, to: number): Promise<StoredBatches> {
  const all: StoredBatches = [];
  let hint = 0;
  for (let next = from; next <= to; ) {
    const batches = await storage.readBatches(next, to, hint, OPEN_READ_BYTES);
    if (batches.length === 0) break;
    for (const b of batches) all.push(b);
    const lastBatch = batches[batches.length - 1]!;
    next = lastBatch.entryIndex + 1;
    hint = lastBatch.firstPosition + lastBatch.count;
  }
  return all;
}
