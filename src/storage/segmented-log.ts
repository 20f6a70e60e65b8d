import { StorageFailedError, type CorruptLogError, type DiskFullError } from '../types/errors.js';
import { cutAfterEntry, cutAfterPosition, type CutPoint } from './cut-points.js';
import { makeDirectoryDurable, syncDirectory, unlinkIfExists, writeFileAtomic } from './file-io.js';
import type { GoneRule } from './hole-records.js';
import { rewriteSegment, type Pace } from './segment-rewrite.js';
import { nodeFileSystem, type FileHandle, type FileSystem } from './file-system.js';
import type { FsyncPolicy } from './fsync-policy.js';
import { GroupCommit, type WritePipeline } from './group-commit.js';
import { decodeRecord, type LogRecord, type RecordDecoder } from './record.js';
import { openWriter, type WrapWriter } from './round-writer.js';
import { indexFile, type Segment } from './segment.js';
import { SEGMENT_HEADER_BYTES } from './segment-file.js';
import { READ_CHUNK_BYTES, SegmentReader, type StoredBatch } from './segment-reader.js';
import { recoverSegments, type BeforeCut, type RecoveryReport } from './segment-recovery.js';
import { lastTermOf } from './segment-scan.js';
import { saveLogStart, type LogStart } from './log-start.js';
import { resetSegments } from './log-reset.js';
import { monotonicClock, realTimers, systemClock, type Clock, type IntervalTimers } from './time.js';

export { DEFAULT_INDEX_INTERVAL_BYTES } from './sparse-index.js';
export { scanSegment, type ScanOptions, type SegmentScan } from './segment-scan.js';
export type { RecoveryReport } from './segment-recovery.js';
export type { StoredBatch } from './segment-reader.js';
export type { WrapWriter } from './round-writer.js';
export { describeIoError } from './write-errors.js';

/** What scavenging one sealed segment did. */
export interface ScavengedSegment {
  readonly base: number;
  /** Records turned into holes. */
  readonly holes: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

export interface SegmentedLogOptions {
  /** A segment is sealed and a new one started once it reaches this size. */
  segmentBytes: number;
  /** Distance between sparse index entries. */
  indexIntervalBytes: number;
  fsync: FsyncPolicy;
  /** Read file handles kept open at most (the active segment's writer is extra). */
  maxOpenFiles: number;
  /**
   * Wraps the handle every write of a segment goes through (tests: a layer that records what
   * each fdatasync made durable, so a power loss can drop the writes after it).
   */
  wrapWriter?: WrapWriter;
  /** The disk the segments live on; node's by default. */
  fs?: FileSystem;
  /** Wall-clock milliseconds (`Date.now` by default): when the `interval` policy last synced. */
  clock?: Clock;
  /** Monotonic milliseconds (`performance.now` by default): how long an fdatasync took. */
  monotonicNow?: Clock;
  /** What runs the `interval` policy's idle syncs (node's timers by default). */
  timers?: IntervalTimers;
  /**
   * Damage found at open cuts the log at the damaged batch instead of failing the open (a
   * cluster member, whose peers hold the lost entries); called before the cut, to record that
   * entries were lost. Without it, damage fails the open with `CorruptLogError`.
   */
  cutAtDamage?: BeforeCut;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_OPEN_FILES = 32;

/**
 * The log's files: segments of CRC-checked records with contiguous positions, written by group
 * commit (`GroupCommit`). It knows positions and batches, never streams or expected counts (that
 * is `engine/`).
 */
export class SegmentedLog {
  /** Called with the new durable position and entry index after each round, before the appends resolve. */
  onDurable: ((position: number, entryIndex: number) => void) | undefined;
  /** Observability: called after each group-commit fdatasync with how long it took, in seconds. */
  onSync: ((seconds: number) => void) | undefined;
  /**
   * Called once when a write or fdatasync fails for good (not for a full disk): the log takes
   * no more writes, and its owner must stop (see `GroupCommit.fail`).
   */
  onFailure: ((error: StorageFailedError) => void) | undefined;
  /** Called when the disk fills (with the error) and when writing resumes (with undefined). */
  onDiskFull: ((error: DiskFullError | undefined) => void) | undefined;
  /** Running totals for /metrics. */
  readonly stats = { bytesWritten: 0, syncs: 0 };
  /** Told of every damaged batch a read runs into (the read then fails with the same error). */
  onCorrupt: ((error: CorruptLogError) => void) | undefined;

  private readonly segments: Segment[];
  private lastAppended: number;
  private lastAppendedTerm: number;
  private lastAppendedIndex: number;
  /** Writes and syncs the appends; reads here see what it has written. */
  private readonly commit: WritePipeline;
  private readonly reader: SegmentReader;
  private readonly fs: FileSystem;
  readonly recovery: RecoveryReport;
  /** What retention dropped from the front of the log (FULL_LOG: nothing). */
  logStart: LogStart;
  /** The last maintenance of sealed segments queued (see `exclusive`). */
  private maintenance: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly options: SegmentedLogOptions,
    segments: Segment[],
    writer: FileHandle,
    lastTerm: number,
    recovery: RecoveryReport,
    logStart: LogStart,
  ) {
    this.logStart = logStart;
    this.segments = segments;
    const last = segments[segments.length - 1]!;
    this.lastAppended = last.lastPosition;
    this.lastAppendedTerm = lastTerm;
    this.lastAppendedIndex = last.lastIndex;
    this.recovery = recovery;
    this.fs = options.fs ?? nodeFileSystem;
    this.commit = new GroupCommit({
      dir,
      segments,
      writer,
      segmentBytes: options.segmentBytes,
      indexIntervalBytes: options.indexIntervalBytes,
      fsync: options.fsync,
      wrapWriter: options.wrapWriter,
      fs: this.fs,
      clock: options.clock ?? systemClock,
      monotonicNow: options.monotonicNow ?? monotonicClock,
      timers: options.timers ?? realTimers,
      stats: this.stats,
      listener: this,
    });
    this.reader = new SegmentReader(segments, this.fs, options.maxOpenFiles, (error) => this.onCorrupt?.(error));
  }

  /** Opens (creating if needed) the segments under `dir`, recovering from a crash. */
  static async open(dir: string, options: SegmentedLogOptions): Promise<SegmentedLog> {
    const fs = options.fs ?? nodeFileSystem;
    await makeDirectoryDurable(dir, fs);
    const recovered = await recoverSegments(dir, fs, options.cutAtDamage);
    const { segments, truncatedBytes, truncations, upgradedSegments, damageCuts, lastTerm, logStart } = recovered;
    const active = segments[segments.length - 1]!;
    const writer = await openWriter(active.file, options.wrapWriter, fs);
    return new SegmentedLog(
      dir,
      options,
      segments,
      writer,
      lastTerm,
      {
        segments: segments.length,
        truncatedBytes,
        truncations,
        upgradedSegments,
        damageCuts,
        lastPosition: active.lastPosition,
        lastIndex: active.lastIndex,
      },
      logStart,
    );
  }

  /** Position of the last appended record (written or queued); -1 for an empty log. */
  get lastPosition(): number {
    return this.lastAppended;
  }

  get lastTerm(): number {
    return this.lastAppendedTerm;
  }

  /** Entry index of the last appended batch (written or queued); 0 for an empty log. */
  get lastIndex(): number {
    return this.lastAppendedIndex;
  }

  get durableEntryIndex(): number {
    return this.commit.durableEntryIndex;
  }

  /** Entry index of the first batch on disk. */
  get firstIndex(): number {
    return this.segments[0]!.baseIndex;
  }

  /** Set while the disk is full: appends wait for space (see `GroupCommit.diskFullError`). */
  get diskFull(): DiskFullError | undefined {
    return this.commit.diskFull;
  }

  /** Set once a write or fdatasync failed for good: the log takes no more writes. */
  get failed(): StorageFailedError | undefined {
    return this.commit.failed;
  }

  /** Position up to which appends are acknowledged under the fsync policy. */
  get durablePosition(): number {
    return this.commit.durablePosition;
  }

  get firstPosition(): number {
    return this.segments[0]!.base;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /**
   * Queues one atomic batch (one entry, `entryIndex`) of encoded records with positions
   * `first..last` (contiguous with the log; `last = first - 1` for an entry without events).
   * Resolves once it is durable under the fsync policy.
   */
  append(bytes: Buffer, first: number, last: number, term: number, entryIndex: number): Promise<void> {
    if (this.commit.failed) return Promise.reject(this.commit.failed);
    if (this.commit.closed) return Promise.reject(new StorageFailedError('the segmented log is closed'));
    if (first !== this.lastAppended + 1 || last < first - 1) {
      const problem = `batch ${first}..${last} does not follow position ${this.lastAppended}`;
      return Promise.reject(new StorageFailedError(problem));
    }
    if (entryIndex !== this.lastAppendedIndex + 1) {
      const problem = `entry ${entryIndex} does not follow entry ${this.lastAppendedIndex}`;
      return Promise.reject(new StorageFailedError(problem));
    }
    this.lastAppended = last;
    this.lastAppendedTerm = term;
    this.lastAppendedIndex = entryIndex;
    return this.commit.append(bytes, first, last, term, entryIndex);
  }

  /** Resolves when everything queued so far has been handled. */
  drain(): Promise<void> {
    return this.commit.drain();
  }

  /**
   * Gives up the batches waiting for space (the node is closing): they were never written, and
   * are rejected with the disk-full error.
   */
  abandonWaitingForSpace(): void {
    this.commit.abandonWaitingForSpace();
  }

  /**
   * Reads records with `from <= position <= to`, in order, up to about `maxBytes` (always at
   * least one record when `from` exists), each turned into a `T` by `decode` (default: a
   * `LogRecord`). Callers bound `to` by what they may see (committed).
   */
  async read<T = LogRecord>(
    from: number,
    to: number,
    maxBytes = READ_CHUNK_BYTES,
    decode: RecordDecoder<T> = decodeRecord as unknown as RecordDecoder<T>,
  ): Promise<T[]> {
    if (from > to || from > this.commit.lastWritten || from < this.firstPosition) return [];
    return this.reader.readRecords(from, to, maxBytes, decode);
  }

  /**
   * Whole batches (Raft entries) `fromIndex..toIndex` as stored, in order, up to about
   * `maxBytes` (always at least one when `fromIndex` exists). `positionHint` is the position of
   * the first event of entry `fromIndex` (or, for an entry without events, of the next event),
   * which lets the sparse index skip most of the segment. Each batch is a copy of its bytes.
   */
  async readBatches(
    fromIndex: number,
    toIndex: number,
    positionHint: number,
    maxBytes = READ_CHUNK_BYTES,
  ): Promise<StoredBatch[]> {
    if (fromIndex > toIndex || fromIndex < this.firstIndex || fromIndex > this.lastAppendedIndex) return [];
    return this.reader.readBatches(fromIndex, toIndex, positionHint, maxBytes);
  }

  /**
   * Removes every record after `position` (Raft truncates a follower's divergent suffix, a
   * whole number of entries). `position` must end a batch. Waits for queued writes first.
   */
  async truncateAfter(position: number): Promise<void> {
    await this.drain();
    if (this.commit.failed) throw this.commit.failed;
    if (position >= this.commit.lastWritten) return;
    if (position < this.firstPosition - 1) {
      throw new StorageFailedError(`cannot truncate after ${position}: the log starts at ${this.firstPosition}`);
    }
    const active = await this.dropSegmentsAfter((segment) => segment.base > position);
    await this.cutActive(active, await cutAfterPosition(active, position, position < active.base, this.fs));
  }

  /**
   * Removes every entry after entry `entryIndex` (Raft truncates a follower's divergent
   * suffix). Waits for queued writes first. Returns the position of the last event kept.
   */
  async truncateAfterIndex(entryIndex: number): Promise<number> {
    await this.drain();
    if (this.commit.failed) throw this.commit.failed;
    if (entryIndex >= this.lastAppendedIndex) return this.lastAppended;
    if (entryIndex < this.firstIndex - 1) {
      const problem = `cannot truncate after entry ${entryIndex}: the log starts at entry ${this.firstIndex}`;
      throw new StorageFailedError(problem);
    }
    const active = await this.dropSegmentsAfter((segment) => segment.baseIndex > entryIndex);
    await this.cutActive(active, await cutAfterEntry(active, entryIndex, this.fs));
    return this.lastAppended;
  }

  /** Deletes the newest segments while `after` holds (keeping one); returns the one that is active again. */
  private async dropSegmentsAfter(after: (segment: Segment) => boolean): Promise<Segment> {
    await this.commit.writer.close();
    while (this.segments.length > 1 && after(this.active())) {
      const dropped = this.segments.pop()!;
      await this.reader.close(dropped.file);
      await unlinkIfExists(dropped.file, this.fs);
      await unlinkIfExists(indexFile(dropped.file), this.fs);
    }
    const active = this.active();
    await this.reader.close(active.file);
    await unlinkIfExists(indexFile(active.file), this.fs); // it is the active segment again
    return active;
  }

  private async cutActive(active: Segment, found: CutPoint): Promise<void> {
    const { cut, lastPosition, lastIndex } = found;
    this.commit.writer = await openWriter(active.file, this.options.wrapWriter, this.fs);
    await this.commit.writer.truncate(cut);
    await this.commit.writer.datasync();
    await syncDirectory(this.dir, this.fs);
    active.size = cut;
    active.lastPosition = lastPosition;
    active.lastIndex = lastIndex;
    active.index.dropFromOffset(cut);
    const bytesSinceIndexEntry = cut - Math.max(active.index.lastOffset(), SEGMENT_HEADER_BYTES);
    this.commit.truncated(lastPosition, lastIndex, bytesSinceIndexEntry);
    this.lastAppended = lastPosition;
    this.lastAppendedIndex = lastIndex;
    const previous = this.segments[this.segments.length - 2];
    this.lastAppendedTerm = found.lastTerm ?? (previous ? await lastTermOf(previous, this.fs) : this.logStart.term);
  }

  /**
   * Retention: removes the oldest sealed segments whose records all lie at or below `position`
   * (never the active one). The new log start is saved first, so a crash part way leaves
   * segments open removes, never a gap. Returns how many segments and bytes went.
   */
  dropSealedThrough(position: number): Promise<{ segments: number; bytes: number }> {
    return this.exclusive(() => this.dropSealed(position));
  }

  private async dropSealed(position: number): Promise<{ segments: number; bytes: number }> {
    let count = 0;
    while (count < this.segments.length - 1 && this.segments[count]!.lastPosition <= position) count++;
    if (count === 0 || this.commit.failed || this.commit.closed) return { segments: 0, bytes: 0 };
    const last = this.segments[count - 1]!;
    const [batch] = await this.reader.readBatches(last.lastIndex, last.lastIndex, last.lastPosition + 1, 1);
    if (!batch) throw new StorageFailedError(`entry ${last.lastIndex}, the last of ${last.file}, cannot be read`);
    const logStart = { position: last.lastPosition, index: last.lastIndex, term: batch.term };
    await saveLogStart(this.dir, logStart, this.fs);
    this.logStart = logStart; // only once saved: a failed save drops nothing
    const dropped = this.segments.splice(0, count);
    let bytes = 0;
    for (const segment of dropped) {
      bytes += segment.size;
      await this.reader.close(segment.file);
      await unlinkIfExists(indexFile(segment.file), this.fs);
      await unlinkIfExists(segment.file, this.fs);
    }
    await syncDirectory(this.dir, this.fs);
    return { segments: dropped.length, bytes };
  }

  /**
   * Scavenging: rewrites the sealed segment starting at `base` with every record `gone` names
   * as a hole (see hole-records.ts), at the pace `pace` sets. The copy is written and synced
   * aside, the index file removed, the copy renamed over the segment, then the new index
   * written: a crash leaves the old segment or the new one, each with no index or its own.
   * Reads already under way finish on the old file; new ones read the new one. Undefined when
   * nothing in it is gone, or it is no longer a sealed segment of this log.
   */
  scavengeSealed(base: number, gone: GoneRule, pace: Pace): Promise<ScavengedSegment | undefined> {
    return this.exclusive(async () => {
      const at = this.segments.findIndex((segment) => segment.base === base);
      if (at < 0 || at >= this.segments.length - 1 || this.commit.failed || this.commit.closed) return undefined;
      const old = this.segments[at]!;
      const options = { fs: this.fs, indexIntervalBytes: this.options.indexIntervalBytes, pace };
      const copy = await rewriteSegment(old, gone, options);
      if (!copy) return undefined;
      await unlinkIfExists(indexFile(old.file), this.fs);
      await syncDirectory(this.dir, this.fs);
      await this.fs.rename(copy.file, old.file);
      await syncDirectory(this.dir, this.fs);
      this.segments[at] = { ...old, size: copy.size, index: copy.index };
      await this.reader.close(old.file);
      await writeFileAtomic(indexFile(old.file), copy.index.serialize(copy.size, old.lastPosition), this.fs);
      return { base, holes: copy.holes, bytesBefore: copy.bytesBefore, bytesAfter: copy.size };
    });
  }

  /** Seals the active segment now if it holds events (an erasure rewrites sealed segments only). */
  sealActive(): Promise<boolean> {
    return this.commit.sealActive();
  }

  /**
   * Runs `work` after every maintenance of sealed segments started before it (retention,
   * scavenging): they replace or remove files the others read.
   */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.maintenance.then(work);
    this.maintenance = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * Replaces the whole log by an empty one that starts after `start` (see log-reset.ts): what
   * a node does when it installs a peer's engine checkpoint instead of the history. Waits for
   * queued writes first.
   */
  resetTo(start: LogStart): Promise<void> {
    // After retention and scavenging under way: they read and remove the files it replaces.
    return this.exclusive(() => this.reset(start));
  }

  private async reset(start: LogStart): Promise<void> {
    await this.drain();
    if (this.commit.failed) throw this.commit.failed;
    await this.commit.writer.close();
    await this.reader.closeAll();
    const fresh = await resetSegments(this.dir, this.segments, start, this.fs);
    this.segments.splice(0, this.segments.length, fresh);
    this.logStart = start;
    this.commit.writer = await openWriter(fresh.file, this.options.wrapWriter, this.fs);
    this.commit.restarted(start.position, start.index);
    this.lastAppended = start.position;
    this.lastAppendedIndex = start.index;
    this.lastAppendedTerm = start.term;
  }

  /** The sealed segments (all but the active one), for the scrub; the list itself stays the log's. */
  sealedSegments(): readonly Segment[] {
    return this.segments.slice(0, -1);
  }

  /** Whether `segment` is still a sealed segment of this log (a truncation can drop or reopen one). */
  isSealed(segment: Segment): boolean {
    const at = this.segments.indexOf(segment);
    return at >= 0 && at < this.segments.length - 1;
  }

  /** Every segment's file, base and last position, for `verify` and status. */
  describeSegments(): Array<{ file: string; base: number; lastPosition: number; bytes: number }> {
    return this.segments.map((s) => ({ file: s.file, base: s.base, lastPosition: s.lastPosition, bytes: s.size }));
  }

  async close(): Promise<void> {
    if (this.commit.closed) return;
    this.commit.abandonWaitingForSpace();
    await this.commit.drain();
    await this.commit.cutting;
    this.commit.stop();
    if (!this.commit.failed) await this.commit.writer.datasync().catch(() => undefined);
    await this.commit.writer.close().catch(() => undefined);
    await this.reader.closeAll();
  }

  private active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }
}
