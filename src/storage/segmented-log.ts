import { DiskFullError, StorageFailedError, type CorruptLogError } from '../types/errors.js';
import { cutAfterEntry, cutAfterPosition, type CutPoint } from './cut-points.js';
import { makeDirectoryDurable, syncDirectory, unlinkIfExists, writeFileAtomic } from './file-io.js';
import { nodeFileSystem, type FileHandle, type FileSystem } from './file-system.js';
import type { FsyncPolicy } from './fsync-policy.js';
import { decodeRecord, type LogRecord, type RecordDecoder } from './record.js';
import { createSegment, indexFile, type Segment } from './segment.js';
import { SEGMENT_HEADER_BYTES } from './segment-file.js';
import { READ_CHUNK_BYTES, SegmentReader, type StoredBatch } from './segment-reader.js';
import { recoverSegments, type BeforeCut, type RecoveryReport } from './segment-recovery.js';
import { lastTermOf } from './segment-scan.js';
import { saveLogStart, type LogStart } from './log-start.js';
import { monotonicClock, realTimers, systemClock, type Clock, type IntervalTimers } from './time.js';

export { DEFAULT_INDEX_INTERVAL_BYTES } from './sparse-index.js';
export { scanSegment, type ScanOptions, type SegmentScan } from './segment-scan.js';
export type { RecoveryReport } from './segment-recovery.js';
export type { StoredBatch } from './segment-reader.js';

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

/**
 * See SegmentedLogOptions.wrapWriter. Declared as a method so that its parameter is compared
 * both ways: a wrapper written for node's own `FileHandle` fits, and with `nodeFileSystem` (the
 * only file system such a wrapper is used with) node's handles are what it is given.
 */
export type WrapWriter = { wrap(file: string, handle: FileHandle): FileHandle }['wrap'];

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_OPEN_FILES = 32;
const MS_PER_SECOND = 1000;
/** While the disk is full, the batches waiting for space are written again this often. */
const DISK_FULL_RETRY_MS = 1000;

interface PendingBatch {
  bytes: Buffer;
  /** Positions of its events; `last = first - 1` for an entry without events. */
  first: number;
  last: number;
  term: number;
  entryIndex: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The log's files: segments of CRC-checked records with contiguous positions, written by group
 * commit. It knows positions and batches, never streams or expected counts (that is `engine/`).
 *
 * Every append is one atomic batch (an append or, later, a Raft entry). While one write+fdatasync
 * runs, new batches queue; the next round writes them all with one writev and one fdatasync.
 */
export class SegmentedLog {
  /** Called with the new durable position and entry index after each round, before the appends resolve. */
  onDurable: ((position: number, entryIndex: number) => void) | undefined;
  /** Observability: called after each group-commit fdatasync with how long it took, in seconds. */
  onSync: ((seconds: number) => void) | undefined;
  /**
   * Called once when a write or fdatasync fails for good (not for a full disk): the log takes
   * no more writes, and its owner must stop (see `fail`).
   */
  onFailure: ((error: StorageFailedError) => void) | undefined;
  /** Called when the disk fills (with the error) and when writing resumes (with undefined). */
  onDiskFull: ((error: DiskFullError | undefined) => void) | undefined;
  /** Running totals for /metrics. */
  readonly stats = { bytesWritten: 0, syncs: 0 };
  /** Told of every damaged batch a read runs into (the read then fails with the same error). */
  onCorrupt: ((error: CorruptLogError) => void) | undefined;

  private readonly segments: Segment[];
  private writer: FileHandle;
  private lastWritten: number;
  private lastAppended: number;
  private lastAppendedTerm: number;
  private lastAppendedIndex: number;
  private durable: number;
  private durableIndex: number;
  /** Appended, waiting to be written. */
  private queue: PendingBatch[] = [];
  private writing: Promise<void> | undefined;
  /** Written, waiting for the fdatasync that makes them durable (policy `always`). */
  private unsynced: PendingBatch[] = [];
  private syncing: Promise<void> | undefined;
  private failure: StorageFailedError | undefined;
  /**
   * The bytes of a segment an fdatasync has made durable (policy `always`). Invariant: `file`
   * is the active segment's, or one sealed since (sealing syncs it whole); `bytes` never passes
   * what was written before the last successful fdatasync began.
   */
  private syncedTail: { file: string; bytes: number };
  /** Cutting what a failed fdatasync may not have written (see `cutUnsyncedTail`). */
  private cutting: Promise<void> | undefined;
  /**
   * Set while a write found the disk full: the batches it did not write are back at the head of
   * `queue` and the write stage is idle until the retry timer tries them again. Invariant: the
   * active segment holds no byte of them (the partial write was cut and the cut synced).
   */
  private diskFullError: DiskFullError | undefined;
  private waitingForSpace = false;
  private diskFullTimer: unknown;
  private closed = false;
  private intervalTimer: unknown;
  private readonly reader: SegmentReader;
  private readonly fs: FileSystem;
  private readonly clock: Clock;
  private readonly monotonicNow: Clock;
  private readonly timers: IntervalTimers;
  /** Bytes written to the active segment since its last index entry. */
  private bytesSinceIndexEntry = 0;
  /** When the last fdatasync started (for the `interval` policy). */
  private lastSync: number;
  readonly recovery: RecoveryReport;
  /** What retention dropped from the front of the log (FULL_LOG: nothing). */
  logStart: LogStart;

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
    this.writer = writer;
    const last = segments[segments.length - 1]!;
    this.lastWritten = last.lastPosition;
    this.lastAppended = last.lastPosition;
    this.durable = last.lastPosition;
    this.lastAppendedTerm = lastTerm;
    this.lastAppendedIndex = last.lastIndex;
    this.durableIndex = last.lastIndex;
    this.syncedTail = { file: last.file, bytes: last.size };
    this.recovery = recovery;
    this.fs = options.fs ?? nodeFileSystem;
    this.clock = options.clock ?? systemClock;
    this.monotonicNow = options.monotonicNow ?? monotonicClock;
    this.timers = options.timers ?? realTimers;
    this.lastSync = this.clock();
    this.reader = new SegmentReader(segments, this.fs, options.maxOpenFiles, (error) => this.onCorrupt?.(error));
    this.bytesSinceIndexEntry = last.size - Math.max(last.index.lastOffset(), SEGMENT_HEADER_BYTES);
    if (options.fsync.kind === 'interval') {
      this.intervalTimer = this.timers.setInterval(() => void this.syncNow(), options.fsync.ms);
    }
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
    return this.durableIndex;
  }

  /** Entry index of the first batch on disk. */
  get firstIndex(): number {
    return this.segments[0]!.baseIndex;
  }

  /** Set while the disk is full: appends wait for space (see `diskFullError`). */
  get diskFull(): DiskFullError | undefined {
    return this.diskFullError;
  }

  /** Set once a write or fdatasync failed for good: the log takes no more writes. */
  get failed(): StorageFailedError | undefined {
    return this.failure;
  }

  /** Position up to which appends are acknowledged under the fsync policy. */
  get durablePosition(): number {
    return this.durable;
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
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new StorageFailedError('the segmented log is closed'));
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
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ bytes, first, last, term, entryIndex, resolve, reject });
      // While waiting for space the retry timer starts the write stage.
      if (!this.writing && !this.waitingForSpace) this.startWriteStage();
    });
  }

  /** Resolves when everything queued so far has been handled. */
  async drain(): Promise<void> {
    while (this.writing || this.syncing) {
      await this.writing;
      await this.syncing;
    }
  }

  /**
   * Group commit as a two-stage pipeline. The write stage writes everything queued (one writev
   * per round) and hands it to the sync stage, then goes on writing what queued meanwhile; the
   * sync stage runs one fdatasync for everything written since its last one. So the next
   * round's write overlaps the previous round's fdatasync. Writes stay in order, fdatasyncs
   * stay in order, and a batch is acknowledged only after an fdatasync that began after its
   * write completed.
   */
  private async writeLoop(): Promise<void> {
    while (this.queue.length > 0 && !this.failure && !this.waitingForSpace) {
      let round = this.queue;
      this.queue = [];
      try {
        await this.writeRound(round);
        if (this.diskFullError) this.spaceReturned();
      } catch (error) {
        if (!(error instanceof PartlyWritten)) {
          this.fail(error, round);
          return;
        }
        this.queue = [...round.slice(error.written), ...this.queue];
        round = round.slice(0, error.written);
        this.waitForSpace(error.diskFull);
        if (round.length === 0) return;
      }
      if (this.failure) {
        // The sync stage failed while this round was written: it is not durable either.
        for (const batch of round) batch.reject(this.failure);
        return;
      }
      this.lastWritten = round[round.length - 1]!.last;
      if (this.options.fsync.kind === 'always') {
        for (const batch of round) this.unsynced.push(batch);
        if (!this.syncing) this.startSyncStage();
      } else {
        this.acknowledge(round);
      }
    }
  }

  /**
   * Starts the write stage; `writing` is cleared when it ends. (Cleared by the stage itself, a
   * stage with nothing to do would end before `writing` was set, leaving it set for good, and
   * `drain` would spin on it.) A batch queued after the stage's last look at the queue, but
   * before this clears `writing`, saw a stage running: the stage starts again for it.
   */
  private startWriteStage(): void {
    const stage: Promise<void> = this.writeLoop().finally(() => {
      if (this.writing !== stage) return;
      this.writing = undefined;
      if (this.queue.length > 0 && !this.failure && !this.waitingForSpace) this.startWriteStage();
    });
    this.writing = stage;
  }

  /** Starts the sync stage; `syncing` is cleared when it ends (as for `startWriteStage`). */
  private startSyncStage(): void {
    const stage: Promise<void> = this.syncLoop().finally(() => {
      if (this.syncing !== stage) return;
      this.syncing = undefined;
      if (this.unsynced.length > 0 && !this.failure) this.startSyncStage();
    });
    this.syncing = stage;
  }

  private async syncLoop(): Promise<void> {
    while (this.unsynced.length > 0 && !this.failure) {
      const written = this.unsynced;
      this.unsynced = [];
      const started = this.monotonicNow();
      // Everything written so far, and nothing after: the write stage counts a write once it completed.
      const covered = { file: this.active().file, bytes: this.active().size };
      try {
        await this.writer.datasync();
      } catch (error) {
        this.fail(error, written);
        return;
      }
      if (covered.file === this.active().file) this.syncedTail = covered;
      this.stats.syncs++;
      this.onSync?.((this.monotonicNow() - started) / MS_PER_SECOND);
      this.acknowledge(written);
    }
  }

  /** `batches` are durable under the policy: move the durable position, then resolve them. */
  private acknowledge(batches: PendingBatch[]): void {
    const newest = batches[batches.length - 1]!;
    this.durable = newest.last;
    this.durableIndex = newest.entryIndex;
    this.onDurable?.(newest.last, newest.entryIndex);
    for (const batch of batches) batch.resolve();
  }

  /**
   * Writes `round`; a full disk throws `PartlyWritten` with how many of its batches were
   * written (those before a segment roll, synced by it) after cutting the rest back out.
   */
  private async writeRound(round: PendingBatch[]): Promise<void> {
    let buffers: Buffer[] = [];
    let bytes = 0;
    let active = this.active();
    let chunkStart = 0;
    let before = this.tailOf(active);
    for (let i = 0; i < round.length; i++) {
      const batch = round[i]!;
      // Roll a full, non-empty segment before this batch: a batch never spans two segments.
      // Only before a batch with events, so every segment starts at a new position (and name).
      const hasEvents = batch.last >= batch.first;
      const sizeSoFar = active.size + bytes;
      const full = sizeSoFar >= this.options.segmentBytes && sizeSoFar > SEGMENT_HEADER_BYTES;
      if (hasEvents && full && active.lastPosition >= active.base) {
        await this.writeChunk(active, buffers, bytes, before, chunkStart);
        buffers = [];
        bytes = 0;
        active = await this.roll(active);
        chunkStart = i;
        before = this.tailOf(active);
      }
      if (this.bytesSinceIndexEntry >= this.options.indexIntervalBytes || active.index.size === 0) {
        active.index.add(batch.first, active.size + bytes);
        this.bytesSinceIndexEntry = 0;
      }
      // Batches adjacent in memory (carved from one arena) go to writev as one range.
      const previous = buffers[buffers.length - 1];
      const next = batch.bytes;
      const adjacent = previous !== undefined && previous.buffer === next.buffer;
      if (adjacent && previous.byteOffset + previous.length === next.byteOffset) {
        buffers[buffers.length - 1] = Buffer.from(next.buffer, previous.byteOffset, previous.length + next.length);
      } else {
        buffers.push(next);
      }
      bytes += batch.bytes.length;
      this.bytesSinceIndexEntry += batch.bytes.length;
      active.lastPosition = batch.last;
      active.lastIndex = batch.entryIndex;
    }
    await this.writeChunk(active, buffers, bytes, before, chunkStart);
  }

  /** What `writeRound` changes in the active segment before its bytes are written. */
  private tailOf(active: Segment): SegmentTail {
    return {
      lastPosition: active.lastPosition,
      lastIndex: active.lastIndex,
      bytesSinceIndexEntry: this.bytesSinceIndexEntry,
    };
  }

  /**
   * Writes one segment's part of a round (batches `chunkStart..` of it). On a full disk, cuts
   * what the write may have left (a partial batch, or whole ones nobody will be told about)
   * and syncs the cut, so no crash can bring those batches back: they are not written, and the
   * retry writes them at the same offset. A failure of the cut itself stops the log.
   */
  private async writeChunk(
    active: Segment,
    buffers: Buffer[],
    bytes: number,
    before: SegmentTail,
    chunkStart: number,
  ): Promise<void> {
    try {
      await this.writeBuffers(active, buffers, bytes);
    } catch (error) {
      if (!(error instanceof DiskFullError)) throw error;
      await this.writer.truncate(active.size);
      await this.writer.datasync();
      active.lastPosition = before.lastPosition;
      active.lastIndex = before.lastIndex;
      active.index.dropFromOffset(active.size);
      this.bytesSinceIndexEntry = before.bytesSinceIndexEntry;
      throw new PartlyWritten(chunkStart, error);
    }
  }

  private async writeBuffers(active: Segment, buffers: Buffer[], bytes: number): Promise<void> {
    if (buffers.length === 0) return;
    let bytesWritten: number;
    try {
      ({ bytesWritten } = await this.writer.writev(buffers, active.size));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC')
        throw diskFull(active.file, describeIoError(error), error);
      throw error;
    }
    // A short write to a regular file means the space (or the quota) ran out.
    if (bytesWritten !== bytes) throw diskFull(active.file, `short write: ${bytesWritten} of ${bytes} bytes`);
    active.size += bytes;
    this.stats.bytesWritten += bytes;
    const policy = this.options.fsync;
    if (policy.kind === 'interval' && this.clock() - this.lastSync >= policy.ms) {
      this.lastSync = this.clock();
      await this.writer.datasync();
    }
  }

  /**
   * Seals `active` (fsync + index file) and starts the next segment. Batches written to it that
   * the sync stage has not synced yet are made durable by this fdatasync; afterwards the sync
   * stage syncs the new segment, a no-op for them. The handle is swapped before the old one is
   * closed, so the sync stage never sees a closed handle (close waits for a datasync in flight).
   */
  private async roll(active: Segment): Promise<Segment> {
    const old = this.writer;
    await old.datasync();
    await writeFileAtomic(indexFile(active.file), active.index.serialize(active.size, active.lastPosition), this.fs);
    const next = await createSegment(this.dir, active.lastPosition + 1, active.lastIndex + 1, this.fs);
    const handle = await openWriter(next.file, this.options.wrapWriter, this.fs);
    this.segments.push(next);
    this.writer = handle;
    this.syncedTail = { file: next.file, bytes: next.size }; // the old one is synced whole; the new one's header too
    this.bytesSinceIndexEntry = 0;
    await old.close();
    return next;
  }

  /** The interval timer covers idle periods; under load `writeBuffers` syncs on schedule. */
  private async syncNow(): Promise<void> {
    if (this.closed || this.failure || this.writing || this.syncing) return;
    this.lastSync = this.clock();
    try {
      await this.writer.datasync();
    } catch (error) {
      this.fail(error, []);
    }
  }

  /** The disk is full: the write stage rests, and a timer tries the waiting batches again. */
  private waitForSpace(error: DiskFullError): void {
    this.waitingForSpace = true;
    if (this.diskFullError) return;
    this.diskFullError = error;
    this.diskFullTimer = this.timers.setInterval(() => this.retryAfterDiskFull(), DISK_FULL_RETRY_MS);
    // Appends wait on it (as on a socket): it keeps the process alive until they are written.
    (this.diskFullTimer as { ref?: () => void }).ref?.();
    this.onDiskFull?.(error);
  }

  private retryAfterDiskFull(): void {
    if (!this.waitingForSpace || this.writing || this.closed || this.failure) return;
    this.waitingForSpace = false;
    this.startWriteStage();
  }

  private spaceReturned(): void {
    this.diskFullError = undefined;
    this.timers.clearInterval(this.diskFullTimer);
    this.diskFullTimer = undefined;
    this.onDiskFull?.(undefined);
  }

  /**
   * A write or fdatasync failed: nothing written since the last good fdatasync can be trusted
   * (the kernel may have dropped those pages and cleared the error, so a second fdatasync
   * would succeed without writing them). Every waiting batch is rejected and the log takes no
   * more writes; a restart recovers from what is really on disk.
   */
  private fail(error: unknown, round: PendingBatch[]): void {
    const failure =
      error instanceof StorageFailedError
        ? error
        : new StorageFailedError(
            `writing ${this.active().file} failed (${describeIoError(error)}); nothing written since the` +
              ' last successful fdatasync can be trusted, so the log takes no more writes: restart the node' +
              ' to recover from what is on disk',
            error,
          );
    this.failure = failure;
    this.stopDiskFullRetries();
    const waiting = [...round, ...this.unsynced, ...this.queue];
    this.queue = [];
    this.unsynced = [];
    for (const batch of waiting) batch.reject(failure);
    if (this.options.fsync.kind === 'always') this.cutting = this.cutUnsyncedTail();
    this.onFailure?.(failure);
  }

  /**
   * After a failed fdatasync the page cache still holds what it did not write: a restart would
   * read those bytes back as if they were durable, and commit them (a single node commits what
   * its disk holds), and a later power cut would lose them. So they are cut from the active
   * segment, once the write in flight (if any) has landed, or it would write past the cut. If
   * the cut fails too, the restart's recovery judges what is left.
   */
  private async cutUnsyncedTail(): Promise<void> {
    await this.writing;
    const active = this.active();
    const { file, bytes } = this.syncedTail;
    if (active.file !== file || active.size <= bytes) return;
    try {
      await this.writer.truncate(bytes);
      active.size = bytes;
    } catch {
      // The disk is failing: nothing more to do here.
    }
  }

  private stopDiskFullRetries(): void {
    if (this.diskFullTimer !== undefined) this.timers.clearInterval(this.diskFullTimer);
    this.diskFullTimer = undefined;
    this.waitingForSpace = false;
  }

  /**
   * Gives up the batches waiting for space (the node is closing): they were never written, and
   * are rejected with the disk-full error.
   */
  abandonWaitingForSpace(): void {
    if (!this.waitingForSpace) return;
    const error = this.diskFullError!;
    this.stopDiskFullRetries();
    const waiting = this.queue;
    this.queue = [];
    for (const batch of waiting) batch.reject(error);
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
    if (from > to || from > this.lastWritten || from < this.firstPosition) return [];
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
    if (this.failure) throw this.failure;
    if (position >= this.lastWritten) return;
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
    if (this.failure) throw this.failure;
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
    await this.writer.close();
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
    this.writer = await openWriter(active.file, this.options.wrapWriter, this.fs);
    await this.writer.truncate(cut);
    await this.writer.datasync();
    await syncDirectory(this.dir, this.fs);
    active.size = cut;
    active.lastPosition = lastPosition;
    active.lastIndex = lastIndex;
    active.index.dropFromOffset(cut);
    this.bytesSinceIndexEntry = cut - Math.max(active.index.lastOffset(), SEGMENT_HEADER_BYTES);
    this.lastWritten = lastPosition;
    this.lastAppended = lastPosition;
    this.lastAppendedIndex = lastIndex;
    this.durable = Math.min(this.durable, lastPosition);
    this.durableIndex = Math.min(this.durableIndex, lastIndex);
    const previous = this.segments[this.segments.length - 2];
    this.lastAppendedTerm = found.lastTerm ?? (previous ? await lastTermOf(previous, this.fs) : this.logStart.term);
  }

  /**
   * Retention: removes the oldest sealed segments whose records all lie at or below `position`
   * (never the active one). The new log start is saved first, so a crash part way leaves
   * segments open removes, never a gap. Returns how many segments and bytes went.
   */
  async dropSealedThrough(position: number): Promise<{ segments: number; bytes: number }> {
    let count = 0;
    while (count < this.segments.length - 1 && this.segments[count]!.lastPosition <= position) count++;
    if (count === 0 || this.failure || this.closed) return { segments: 0, bytes: 0 };
    const last = this.segments[count - 1]!;
    const [batch] = await this.reader.readBatches(last.lastIndex, last.lastIndex, last.lastPosition + 1, 1);
    if (!batch) throw new StorageFailedError(`entry ${last.lastIndex}, the last of ${last.file}, cannot be read`);
    this.logStart = { position: last.lastPosition, index: last.lastIndex, term: batch.term };
    await saveLogStart(this.dir, this.logStart, this.fs);
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

  /** Every segment's file, base and last position, for `verify` and status. */
  /** The sealed segments (all but the active one), for the scrub; the list itself stays the log's. */
  sealedSegments(): readonly Segment[] {
    return this.segments.slice(0, -1);
  }

  /** Whether `segment` is still a sealed segment of this log (a truncation can drop or reopen one). */
  isSealed(segment: Segment): boolean {
    const at = this.segments.indexOf(segment);
    return at >= 0 && at < this.segments.length - 1;
  }

  describeSegments(): Array<{ file: string; base: number; lastPosition: number; bytes: number }> {
    return this.segments.map((s) => ({ file: s.file, base: s.base, lastPosition: s.lastPosition, bytes: s.size }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.abandonWaitingForSpace();
    await this.drain();
    await this.cutting;
    this.closed = true;
    if (this.intervalTimer !== undefined) this.timers.clearInterval(this.intervalTimer);
    if (!this.failure) await this.writer.datasync().catch(() => undefined);
    await this.writer.close().catch(() => undefined);
    await this.reader.closeAll();
  }

  private active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }
}

/** The active segment's fields a round changes before writing, restored when the disk is full. */
interface SegmentTail {
  lastPosition: number;
  lastIndex: number;
  bytesSinceIndexEntry: number;
}

/** A round the disk had no room for: its first `written` batches are on disk, the rest were cut. */
class PartlyWritten extends Error {
  constructor(
    readonly written: number,
    readonly diskFull: DiskFullError,
  ) {
    super(diskFull.message);
  }
}

function diskFull(file: string, reason: string, cause?: unknown): DiskFullError {
  return new DiskFullError(
    `the disk holding ${file} is full (${reason}): the append was not written; reads go on, and` +
      ' writing resumes by itself once space is freed',
    cause,
  );
}

/** An I/O error as an operator reads it: its code and syscall first (EIO, ENOSPC…), then node's message. */
export function describeIoError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  const where = e.syscall ? ` in ${e.syscall}` : '';
  return e.code ? `${e.code}${where}: ${e.message}` : String(e?.message ?? error);
}

/** The handle writes of segment `file` go through. */
async function openWriter(file: string, wrap: WrapWriter | undefined, fs: FileSystem): Promise<FileHandle> {
  const handle = await fs.open(file, 'r+');
  return wrap ? wrap(file, handle) : handle;
}
