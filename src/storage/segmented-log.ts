import { mkdir, open, readdir, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptLogError, StorageFailedError } from '../types/errors.js';
import type { FsyncPolicy } from './fsync-policy.js';
import { readAt, syncDirectory, unlinkIfExists, writeFileAtomic } from './file-io.js';
import {
  batchCount,
  batchEntryIndex,
  batchFirstPosition,
  batchTerm,
  checkBatch,
  decodeRecord,
  firstRecordOffset,
  nextRecordOffset,
  readBatchHeader,
  type BatchHeader,
  type LogRecord,
  type RecordDecoder,
} from './record.js';
import {
  INDEX_SUFFIX,
  SEGMENT_HEADER_BYTES,
  checkSegmentHeader,
  encodeSegmentHeader,
  parseSegmentName,
  segmentBaseIndex,
  segmentName,
} from './segment-file.js';
import { SparseIndex } from './sparse-index.js';

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
}

/** See SegmentedLogOptions.wrapWriter. */
export type WrapWriter = (file: string, handle: FileHandle) => FileHandle;

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_INDEX_INTERVAL_BYTES = 4 * 1024;
export const DEFAULT_MAX_OPEN_FILES = 32;
/** Bytes a sequential read asks the OS for at once. */
const READ_CHUNK_BYTES = 256 * 1024;

interface Segment {
  base: number;
  /** Entry index of its first batch. */
  baseIndex: number;
  /** Entry index of its last batch; baseIndex - 1 while empty. */
  lastIndex: number;
  file: string;
  /** Bytes in the file, header included. */
  size: number;
  /** Position of its last record; base - 1 while empty. */
  lastPosition: number;
  index: SparseIndex;
}

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

/** One stored batch: its header and its bytes (length prefix and checksum included). */
export interface StoredBatch {
  entryIndex: number;
  term: number;
  kind: number;
  firstPosition: number;
  count: number;
  timestamp: number;
  bytes: Buffer;
}

/** What recovery found and did at open. */
export interface RecoveryReport {
  segments: number;
  /** Bytes cut from the end of the last segment (a torn write or a partial batch). */
  truncatedBytes: number;
  lastPosition: number;
  lastIndex: number;
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
  /** Running totals for /metrics. */
  readonly stats = { bytesWritten: 0, syncs: 0 };

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
  private failure: Error | undefined;
  private closed = false;
  private intervalTimer: NodeJS.Timeout | undefined;
  private readonly readers = new Map<string, ReaderEntry>();
  /** Bytes written to the active segment since its last index entry. */
  private bytesSinceIndexEntry = 0;
  /** When the last fdatasync started (for the `interval` policy). */
  private lastSync = Date.now();
  readonly recovery: RecoveryReport;

  private constructor(
    readonly dir: string,
    private readonly options: SegmentedLogOptions,
    segments: Segment[],
    writer: FileHandle,
    lastTerm: number,
    recovery: RecoveryReport,
  ) {
    this.segments = segments;
    this.writer = writer;
    const last = segments[segments.length - 1]!;
    this.lastWritten = last.lastPosition;
    this.lastAppended = last.lastPosition;
    this.durable = last.lastPosition;
    this.lastAppendedTerm = lastTerm;
    this.lastAppendedIndex = last.lastIndex;
    this.durableIndex = last.lastIndex;
    this.recovery = recovery;
    this.bytesSinceIndexEntry = last.size - Math.max(last.index.lastOffset(), SEGMENT_HEADER_BYTES);
    if (options.fsync.kind === 'interval') {
      this.intervalTimer = setInterval(() => void this.syncNow(), options.fsync.ms);
      this.intervalTimer.unref();
    }
  }

  /** Opens (creating if needed) the segments under `dir`, recovering from a crash. */
  static async open(dir: string, options: SegmentedLogOptions): Promise<SegmentedLog> {
    await mkdir(dir, { recursive: true });
    const all = await readdir(dir);
    // Leftovers of atomic writes a crash interrupted (a segment or index never renamed).
    for (const name of all.filter((n) => n.endsWith('.tmp'))) await unlinkIfExists(join(dir, name));
    const names = all.filter((name) => !name.endsWith('.tmp'));
    const bases = names
      .map(parseSegmentName)
      .filter((base): base is number => base !== undefined)
      .sort((a, b) => a - b);
    const segments: Segment[] = [];
    let truncatedBytes = 0;
    let lastTerm = 0;
    if (bases.length === 0) {
      segments.push(await createSegment(dir, 0, 1));
    } else {
      for (let i = 0; i < bases.length; i++) {
        const base = bases[i]!;
        const isLast = i === bases.length - 1;
        const scanned = isLast ? await recoverActiveSegment(dir, base) : await loadSealedSegment(dir, base);
        truncatedBytes += scanned.truncatedBytes;
        if (isLast) lastTerm = scanned.lastTerm;
        const previous = segments[segments.length - 1];
        if (previous && previous.lastPosition + 1 !== base) {
          throw new CorruptLogError(
            scanned.segment.file,
            0,
            `segment starts at position ${base} but the previous one ends at ${previous.lastPosition}`,
          );
        }
        if (previous) {
          // A sealed segment's last entry is the one before the next segment's first.
          if (scanned.segment.baseIndex <= previous.baseIndex) {
            throw new CorruptLogError(scanned.segment.file, 0, `segment starts at entry ${scanned.segment.baseIndex}, not after the previous one's first entry ${previous.baseIndex}`);
          }
          previous.lastIndex = scanned.segment.baseIndex - 1;
        }
        segments.push(scanned.segment);
      }
      if (lastTerm === 0 && segments.length > 1) {
        // The active segment is empty: the last term is that of the previous segment's last record.
        lastTerm = await lastTermOf(segments[segments.length - 2]!);
      }
    }
    const active = segments[segments.length - 1]!;
    const writer = await openWriter(active.file, options.wrapWriter);
    return new SegmentedLog(dir, options, segments, writer, lastTerm, {
      segments: segments.length,
      truncatedBytes,
      lastPosition: active.lastPosition,
      lastIndex: active.lastIndex,
    });
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
      return Promise.reject(new StorageFailedError(`batch ${first}..${last} does not follow position ${this.lastAppended}`));
    }
    if (entryIndex !== this.lastAppendedIndex + 1) {
      return Promise.reject(new StorageFailedError(`entry ${entryIndex} does not follow entry ${this.lastAppendedIndex}`));
    }
    this.lastAppended = last;
    this.lastAppendedTerm = term;
    this.lastAppendedIndex = entryIndex;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ bytes, first, last, term, entryIndex, resolve, reject });
      if (!this.writing) this.writing = this.writeLoop();
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
    try {
      while (this.queue.length > 0 && !this.failure) {
        const round = this.queue;
        this.queue = [];
        try {
          await this.writeRound(round);
        } catch (error) {
          this.fail(error, round);
          return;
        }
        this.lastWritten = round[round.length - 1]!.last;
        if (this.options.fsync.kind === 'always') {
          for (const batch of round) this.unsynced.push(batch);
          if (!this.syncing) this.syncing = this.syncLoop();
        } else {
          this.acknowledge(round);
        }
      }
    } finally {
      this.writing = undefined;
    }
  }

  private async syncLoop(): Promise<void> {
    try {
      while (this.unsynced.length > 0 && !this.failure) {
        const written = this.unsynced;
        this.unsynced = [];
        const started = performance.now();
        try {
          await this.writer.datasync();
        } catch (error) {
          this.fail(error, written);
          return;
        }
        this.stats.syncs++;
        this.onSync?.((performance.now() - started) / 1000);
        this.acknowledge(written);
      }
    } finally {
      this.syncing = undefined;
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

  private async writeRound(round: PendingBatch[]): Promise<void> {
    let buffers: Buffer[] = [];
    let bytes = 0;
    let active = this.active();
    for (const batch of round) {
      // Roll a full, non-empty segment before this batch: a batch never spans two segments.
      // Only before a batch with events, so every segment starts at a new position (and name).
      const hasEvents = batch.last >= batch.first;
      if (hasEvents && active.size + bytes >= this.options.segmentBytes && active.size + bytes > SEGMENT_HEADER_BYTES && active.lastPosition >= active.base) {
        await this.writeBuffers(active, buffers, bytes);
        buffers = [];
        bytes = 0;
        active = await this.roll(active);
      }
      if (this.bytesSinceIndexEntry >= this.options.indexIntervalBytes || active.index.size === 0) {
        active.index.add(batch.first, active.size + bytes);
        this.bytesSinceIndexEntry = 0;
      }
      // Batches adjacent in memory (carved from one arena) go to writev as one range.
      const previous = buffers[buffers.length - 1];
      const next = batch.bytes;
      if (previous !== undefined && previous.buffer === next.buffer && previous.byteOffset + previous.length === next.byteOffset) {
        buffers[buffers.length - 1] = Buffer.from(next.buffer, previous.byteOffset, previous.length + next.length);
      } else {
        buffers.push(next);
      }
      bytes += batch.bytes.length;
      this.bytesSinceIndexEntry += batch.bytes.length;
      active.lastPosition = batch.last;
      active.lastIndex = batch.entryIndex;
    }
    await this.writeBuffers(active, buffers, bytes);
  }

  private async writeBuffers(active: Segment, buffers: Buffer[], bytes: number): Promise<void> {
    if (buffers.length === 0) return;
    const { bytesWritten } = await this.writer.writev(buffers, active.size);
    if (bytesWritten !== bytes) throw new Error(`short write: ${bytesWritten} of ${bytes} bytes to ${active.file}`);
    active.size += bytes;
    this.stats.bytesWritten += bytes;
    const policy = this.options.fsync;
    if (policy.kind === 'interval' && Date.now() - this.lastSync >= policy.ms) {
      this.lastSync = Date.now();
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
    await writeFileAtomic(indexFile(active.file), active.index.serialize(active.size, active.lastPosition));
    const next = await createSegment(this.dir, active.lastPosition + 1, active.lastIndex + 1);
    const handle = await openWriter(next.file, this.options.wrapWriter);
    this.segments.push(next);
    this.writer = handle;
    this.bytesSinceIndexEntry = 0;
    await old.close();
    return next;
  }

  /** The interval timer covers idle periods; under load `writeBuffers` syncs on schedule. */
  private async syncNow(): Promise<void> {
    if (this.closed || this.failure || this.writing || this.syncing) return;
    this.lastSync = Date.now();
    try {
      await this.writer.datasync();
    } catch (error) {
      this.fail(error, []);
    }
  }

  private fail(error: unknown, round: PendingBatch[]): void {
    const failure =
      error instanceof StorageFailedError
        ? error
        : new StorageFailedError(`log write failed; the log accepts no more writes: ${(error as Error).message}`, error);
    this.failure = failure;
    const waiting = [...round, ...this.unsynced, ...this.queue];
    this.queue = [];
    this.unsynced = [];
    for (const batch of waiting) batch.reject(failure);
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
    const records: T[] = [];
    if (from > to || from > this.lastWritten || from < this.firstPosition) return records;
    let segmentIndex = this.segmentIndexOf(from);
    let collected = 0;
    while (segmentIndex < this.segments.length && collected < maxBytes) {
      const segment = this.segments[segmentIndex]!;
      const done = await this.walkBatches(segment, segment.index.floorOffset(from, SEGMENT_HEADER_BYTES), Math.max(maxBytes, 64 * 1024), (chunk, at, end, header) => {
        const first = header.firstPosition;
        if (first > to) return true;
        const last = first + header.count - 1;
        if (last >= from) {
          let record = firstRecordOffset(at);
          for (let i = 0; i < header.count; i++) {
            const position = first + i;
            if (position > to) break;
            if (position >= from) records.push(decode(chunk, record, position, header));
            record = nextRecordOffset(chunk, record);
          }
          collected += end - at;
        }
        return collected >= maxBytes || last >= to;
      });
      if (done || to <= segment.lastPosition) break;
      from = segment.lastPosition + 1;
      segmentIndex++;
    }
    return records;
  }

  /**
   * Whole batches (Raft entries) `fromIndex..toIndex` as stored, in order, up to about
   * `maxBytes` (always at least one when `fromIndex` exists). `positionHint` is the position of
   * the first event of entry `fromIndex` (or, for an entry without events, of the next event),
   * which lets the sparse index skip most of the segment. Each batch is a copy of its bytes.
   */
  async readBatches(fromIndex: number, toIndex: number, positionHint: number, maxBytes = READ_CHUNK_BYTES): Promise<StoredBatch[]> {
    const batches: StoredBatch[] = [];
    if (fromIndex > toIndex || fromIndex < this.firstIndex || fromIndex > this.lastAppendedIndex) return batches;
    let segmentIndex = this.segmentIndexOfEntry(fromIndex);
    let collected = 0;
    let next = fromIndex;
    while (segmentIndex < this.segments.length && collected < maxBytes && next <= toIndex) {
      const segment = this.segments[segmentIndex]!;
      // A batch with first position <= hint - 1 lies before every batch of entry >= fromIndex.
      const offset = next === fromIndex ? segment.index.floorOffset(positionHint - 1, SEGMENT_HEADER_BYTES) : SEGMENT_HEADER_BYTES;
      await this.walkBatches(segment, offset, Math.max(maxBytes, 64 * 1024), (chunk, at, end, header, fileOffset) => {
        if (header.entryIndex >= next && header.entryIndex <= toIndex) {
          if (header.entryIndex !== next) throw new CorruptLogError(segment.file, fileOffset, `entry ${header.entryIndex} where entry ${next} was expected`);
          batches.push({ ...header, kind: header.kind ?? 0, bytes: Buffer.from(chunk.subarray(at, end)) });
          collected += end - at;
          next++;
        }
        return collected >= maxBytes || next > toIndex;
      });
      segmentIndex++;
    }
    return batches;
  }

  /**
   * Walks the whole batches of `segment` from byte `offset` on, reading chunks of about
   * `chunkBytes`, and calls `visit(chunk, at, end, header, fileOffset)` for each until it returns true.
   * Every chunk is a fresh buffer, so views into one stay valid after the walk moves on (reads
   * hand out records that keep them). Returns whether `visit` finished (false: the segment ended).
   */
  private walkBatches(segment: Segment, offset: number, chunkBytes: number, visit: (chunk: Buffer, at: number, end: number, header: BatchHeader, fileOffset: number) => boolean): Promise<boolean> {
    return this.withReader(segment, async (handle) => {
      const end = segment.size;
      let chunk = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(end - offset, 8)));
      while (offset < end) {
        const length = await readAt(handle, chunk, Math.min(chunk.length, end - offset), offset);
        let at = 0;
        for (;;) {
          const check = checkBatch(chunk, at, length);
          if (check.kind === 'incomplete') break;
          if (check.kind === 'corrupt') throw new CorruptLogError(segment.file, offset + at, check.reason);
          if (visit(chunk, at, check.end, readBatchHeader(chunk, at), offset + at)) return true;
          at = check.end;
        }
        if (at === 0) {
          chunk = chunkForBatch(chunk, length, offset, end, segment.file);
          continue;
        }
        offset += at;
        chunk = Buffer.allocUnsafe(chunk.length);
      }
      return false;
    });
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
    await this.cutActive(active, await offsetAfter(active, position, position < active.base));
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
      throw new StorageFailedError(`cannot truncate after entry ${entryIndex}: the log starts at entry ${this.firstIndex}`);
    }
    const active = await this.dropSegmentsAfter((segment) => segment.baseIndex > entryIndex);
    await this.cutActive(active, await offsetAfterEntry(active, entryIndex));
    return this.lastAppended;
  }

  /** Deletes the newest segments while `after` holds (keeping one); returns the one that is active again. */
  private async dropSegmentsAfter(after: (segment: Segment) => boolean): Promise<Segment> {
    await this.writer.close();
    while (this.segments.length > 1 && after(this.active())) {
      const dropped = this.segments.pop()!;
      await this.closeReader(dropped.file);
      await unlinkIfExists(dropped.file);
      await unlinkIfExists(indexFile(dropped.file));
    }
    const active = this.active();
    await this.closeReader(active.file);
    await unlinkIfExists(indexFile(active.file)); // it is the active segment again
    return active;
  }

  private async cutActive(active: Segment, found: { cut: number; lastPosition: number; lastIndex: number; lastTerm: number | undefined }): Promise<void> {
    const { cut, lastPosition, lastIndex } = found;
    this.writer = await openWriter(active.file, this.options.wrapWriter);
    await this.writer.truncate(cut);
    await this.writer.datasync();
    await syncDirectory(this.dir);
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
    this.lastAppendedTerm = found.lastTerm ?? (previous ? await lastTermOf(previous) : 0);
  }

  /** Every segment's file, base and last position, for `verify` and status. */
  describeSegments(): Array<{ file: string; base: number; lastPosition: number; bytes: number }> {
    return this.segments.map((s) => ({ file: s.file, base: s.base, lastPosition: s.lastPosition, bytes: s.size }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    if (this.intervalTimer) clearInterval(this.intervalTimer);
    if (!this.failure) await this.writer.datasync().catch(() => undefined);
    await this.writer.close().catch(() => undefined);
    for (const file of [...this.readers.keys()]) await this.closeReader(file);
  }

  private active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  /** The segment holding entry `entryIndex`. */
  private segmentIndexOfEntry(entryIndex: number): number {
    return this.lastSegmentWhere((segment) => segment.baseIndex <= entryIndex);
  }

  /** The segment holding `position`. */
  private segmentIndexOf(position: number): number {
    return this.lastSegmentWhere((segment) => segment.base <= position);
  }

  /** Binary search: the last segment for which `starts` holds (segments are in order), or 0. */
  private lastSegmentWhere(starts: (segment: Segment) => boolean): number {
    let low = 0;
    let high = this.segments.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (starts(this.segments[mid]!)) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  /**
   * Read handles, least recently used closed first, so open files stay bounded. A handle is
   * shared by concurrent reads of its segment and closed only once no read uses it.
   */
  private async withReader<T>(segment: Segment, use: (handle: FileHandle) => Promise<T>): Promise<T> {
    let entry = this.readers.get(segment.file);
    if (entry) {
      this.readers.delete(segment.file); // re-insert: most recently used last
    } else {
      entry = { handle: open(segment.file, 'r'), users: 0, evicted: false };
    }
    this.readers.set(segment.file, entry);
    entry.users++;
    for (const [file, other] of this.readers) {
      if (this.readers.size <= this.options.maxOpenFiles) break;
      this.readers.delete(file);
      other.evicted = true;
      if (other.users === 0) void closeQuietly(other.handle);
    }
    try {
      return await use(await entry.handle);
    } finally {
      entry.users--;
      if (entry.evicted && entry.users === 0) void closeQuietly(entry.handle);
    }
  }

  private async closeReader(file: string): Promise<void> {
    const entry = this.readers.get(file);
    if (!entry) return;
    this.readers.delete(file);
    entry.evicted = true;
    if (entry.users === 0) await closeQuietly(entry.handle);
  }
}

interface ReaderEntry {
  handle: Promise<FileHandle>;
  users: number;
  evicted: boolean;
}

async function closeQuietly(handle: Promise<FileHandle>): Promise<void> {
  await handle.then((h) => h.close()).catch(() => undefined);
}

function indexFile(segmentFile: string): string {
  return segmentFile.slice(0, -'.seg'.length) + INDEX_SUFFIX;
}

/**
 * A new segment appears whole or not at all (written aside, fsynced, renamed): a crash while
 * rolling never leaves a headerless last segment that open would take for corruption.
 */
async function createSegment(dir: string, base: number, baseIndex: number): Promise<Segment> {
  const file = join(dir, segmentName(base));
  await writeFileAtomic(file, encodeSegmentHeader(base, baseIndex));
  return { base, baseIndex, lastIndex: baseIndex - 1, file, size: SEGMENT_HEADER_BYTES, lastPosition: base - 1, index: new SparseIndex() };
}

interface ScannedSegment {
  segment: Segment;
  truncatedBytes: number;
  lastTerm: number;
}

/** A sealed segment: its index file if it is valid for the file's size, else a full scan. */
async function loadSealedSegment(dir: string, base: number): Promise<ScannedSegment> {
  const file = join(dir, segmentName(base));
  const size = (await stat(file)).size;
  const indexBytes = await readFile(indexFile(file)).catch(() => undefined);
  const loaded = indexBytes ? SparseIndex.deserialize(indexBytes, size) : undefined;
  if (loaded) {
    const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
    const handle = await open(file, 'r');
    try {
      await handle.read(header, 0, SEGMENT_HEADER_BYTES, 0);
    } finally {
      await handle.close();
    }
    const problem = checkSegmentHeader(header, base);
    if (problem) throw new CorruptLogError(file, 0, problem);
    const baseIndex = segmentBaseIndex(header);
    // lastIndex is set by open from the next segment's base entry index.
    return { segment: { base, baseIndex, lastIndex: baseIndex - 1, file, size, lastPosition: loaded.lastPosition, index: loaded.index }, truncatedBytes: 0, lastTerm: 0 };
  }
  const scanned = await scanSegment(file, base, { tornTailAllowed: false });
  await writeFileAtomic(indexFile(file), scanned.index.serialize(scanned.validBytes, scanned.lastPosition));
  return {
    segment: { base, baseIndex: scanned.baseIndex, lastIndex: scanned.lastIndex, file, size: scanned.validBytes, lastPosition: scanned.lastPosition, index: scanned.index },
    truncatedBytes: 0,
    lastTerm: scanned.lastTerm,
  };
}

/** The last segment: scanned record by record; a torn tail or partial batch is cut off. */
async function recoverActiveSegment(dir: string, base: number): Promise<ScannedSegment> {
  const file = join(dir, segmentName(base));
  const scanned = await scanSegment(file, base, { tornTailAllowed: true });
  // An index file here is a leftover of a roll a crash interrupted (after the index file, before
  // the next segment): the active segment is scanned instead, and its index file is written
  // when it is sealed. Removed so that it does not go stale as appends continue.
  await unlinkIfExists(indexFile(file));
  let truncatedBytes = 0;
  if (scanned.validBytes < scanned.fileBytes) {
    truncatedBytes = scanned.fileBytes - scanned.validBytes;
    const handle = await open(file, 'r+');
    try {
      await handle.truncate(scanned.validBytes);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
  return {
    segment: { base, baseIndex: scanned.baseIndex, lastIndex: scanned.lastIndex, file, size: scanned.validBytes, lastPosition: scanned.lastPosition, index: scanned.index },
    truncatedBytes,
    lastTerm: scanned.lastTerm,
  };
}

interface SegmentScan {
  index: SparseIndex;
  lastPosition: number;
  lastTerm: number;
  baseIndex: number;
  lastIndex: number;
  /** Bytes up to the end of the last complete batch. */
  validBytes: number;
  fileBytes: number;
}

/**
 * Walks every batch of a segment, checking CRC, lengths and position continuity.
 *
 * Telling a torn write from corruption: an incomplete batch at the end of the file, or a bad
 * batch followed only by zeros or nothing, is what a crash during a write leaves (never
 * acknowledged: acks wait for the fdatasync). A bad batch with intact data after it is damage
 * to acknowledged data: `CorruptLogError`.
 */
export async function scanSegment(
  file: string,
  base: number,
  options: { tornTailAllowed: boolean; onBatch?: (bytes: Buffer, offset: number) => void },
): Promise<SegmentScan> {
  const bytes = await readFile(file);
  const headerProblem = checkSegmentHeader(bytes, base);
  if (headerProblem) throw new CorruptLogError(file, 0, headerProblem);
  const index = new SparseIndex();
  let offset = SEGMENT_HEADER_BYTES;
  let expected = base;
  const baseIndex = segmentBaseIndex(bytes);
  let expectedIndex = baseIndex;
  let lastTerm = 0;
  let lastIndexed = -Infinity;
  while (offset < bytes.length) {
    const check = checkBatch(bytes, offset, bytes.length);
    if (check.kind !== 'batch') {
      const atTail = check.kind === 'incomplete' || check.end >= bytes.length || onlyZeros(bytes, check.end);
      if (options.tornTailAllowed && atTail) break;
      const reason = check.kind === 'incomplete' ? 'batch runs past the end of the file' : check.reason;
      throw new CorruptLogError(file, offset, reason);
    }
    const first = batchFirstPosition(bytes, offset);
    if (first !== expected) throw new CorruptLogError(file, offset, `batch starts at position ${first}, expected ${expected}`);
    const entryIndex = batchEntryIndex(bytes, offset);
    if (entryIndex !== expectedIndex) throw new CorruptLogError(file, offset, `batch is entry ${entryIndex}, expected entry ${expectedIndex}`);
    expectedIndex++;
    options.onBatch?.(bytes, offset);
    // Index entries point at batch starts, one per interval, like the writer makes them.
    if (index.size === 0 || offset - lastIndexed >= DEFAULT_INDEX_INTERVAL_BYTES) {
      index.add(first, offset);
      lastIndexed = offset;
    }
    expected = first + batchCount(bytes, offset);
    lastTerm = batchTerm(bytes, offset);
    offset = check.end;
  }
  if (!options.tornTailAllowed && offset !== bytes.length) {
    throw new CorruptLogError(file, offset, 'sealed segment ends inside a batch');
  }
  return { index, lastPosition: expected - 1, lastTerm, baseIndex, lastIndex: expectedIndex - 1, validBytes: offset, fileBytes: bytes.length };
}

interface CutPoint {
  cut: number;
  lastPosition: number;
  lastIndex: number;
  /** Term of the last batch kept in this segment; undefined if it keeps none. */
  lastTerm: number | undefined;
}

/**
 * Where to cut the segment so that it ends with the batch whose last event is at `position`
 * (entries without events right after it are kept with it). `before`: cut before every batch.
 */
async function offsetAfter(segment: Segment, position: number, before: boolean): Promise<CutPoint> {
  if (before) return { cut: SEGMENT_HEADER_BYTES, lastPosition: segment.base - 1, lastIndex: segment.baseIndex - 1, lastTerm: undefined };
  let found: CutPoint | undefined;
  let inside = false;
  await scanSegment(segment.file, segment.base, {
    tornTailAllowed: true,
    onBatch: (bytes, offset) => {
      const first = batchFirstPosition(bytes, offset);
      const last = first + batchCount(bytes, offset) - 1;
      if (last === position) found = { cut: offset + 8 + bytes.readUInt32LE(offset), lastPosition: last, lastIndex: batchEntryIndex(bytes, offset), lastTerm: batchTerm(bytes, offset) };
      else if (first <= position && position < last) inside = true;
    },
  });
  if (inside) throw new StorageFailedError(`cannot truncate after position ${position}: it is inside a batch (an append is all or nothing)`);
  if (!found) throw new StorageFailedError(`position ${position} not found in ${segment.file}`);
  return found;
}

/** Where to cut so that the segment ends with entry `entryIndex`. */
async function offsetAfterEntry(segment: Segment, entryIndex: number): Promise<CutPoint> {
  let found: CutPoint = { cut: SEGMENT_HEADER_BYTES, lastPosition: segment.base - 1, lastIndex: segment.baseIndex - 1, lastTerm: undefined };
  if (entryIndex < segment.baseIndex) return found;
  await scanSegment(segment.file, segment.base, {
    tornTailAllowed: true,
    onBatch: (bytes, offset) => {
      const index = batchEntryIndex(bytes, offset);
      if (index > entryIndex) return;
      const first = batchFirstPosition(bytes, offset);
      found = { cut: offset + 8 + bytes.readUInt32LE(offset), lastPosition: first + batchCount(bytes, offset) - 1, lastIndex: index, lastTerm: batchTerm(bytes, offset) };
    },
  });
  if (found.lastIndex !== entryIndex) throw new StorageFailedError(`entry ${entryIndex} not found in ${segment.file}`);
  return found;
}

async function lastTermOf(segment: Segment): Promise<number> {
  if (segment.lastPosition < segment.base) return 0;
  return (await scanSegment(segment.file, segment.base, { tornTailAllowed: true })).lastTerm;
}

/**
 * No whole batch fit in `chunk` (read at `offset`): a chunk large enough for the batch there,
 * to read it again; CorruptLogError if the batch claims to run past the segment's end.
 */
function chunkForBatch(chunk: Buffer, length: number, offset: number, end: number, file: string): ReturnType<typeof Buffer.allocUnsafe> {
  const needed = length < 8 ? 8 : chunk.readUInt32LE(0) + 8;
  if (needed <= chunk.length || offset + needed > end) throw new CorruptLogError(file, offset, `batch of ${needed} bytes runs past the end of the segment`);
  return Buffer.allocUnsafe(needed);
}

function onlyZeros(bytes: Buffer, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** The handle writes of segment `file` go through. */
async function openWriter(file: string, wrap: WrapWriter | undefined): Promise<FileHandle> {
  const handle = await open(file, 'r+');
  return wrap ? wrap(file, handle) : handle;
}
