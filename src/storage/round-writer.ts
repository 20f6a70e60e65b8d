import { DiskFullError } from '../types/errors.js';
import { writeFileAtomic } from './file-io.js';
import type { FileHandle, FileSystem } from './file-system.js';
import type { FsyncPolicy } from './fsync-policy.js';
import { createSegment, indexFile, type Segment } from './segment.js';
import { SEGMENT_HEADER_BYTES } from './segment-file.js';
import type { Clock } from './time.js';
import { PartlyWritten, describeIoError, diskFull } from './write-errors.js';

/**
 * See SegmentedLogOptions.wrapWriter. Declared as a method so that its parameter is compared
 * both ways: a wrapper written for node's own `FileHandle` fits, and with `nodeFileSystem` (the
 * only file system such a wrapper is used with) node's handles are what it is given.
 */
export type WrapWriter = { wrap(file: string, handle: FileHandle): FileHandle }['wrap'];

/** What the round writer needs of the log it writes. */
export interface RoundWriterOptions {
  dir: string;
  /** The log's segments, oldest first: shared with the log; a roll appends to it. */
  segments: Segment[];
  /** The active segment's handle. */
  writer: FileHandle;
  segmentBytes: number;
  indexIntervalBytes: number;
  fsync: FsyncPolicy;
  wrapWriter: WrapWriter | undefined;
  fs: FileSystem;
  clock: Clock;
  /** The log's running totals: `bytesWritten` grows here. */
  stats: { bytesWritten: number };
}

/** One batch of a round, as the round writer needs it. */
export interface RoundBatch {
  bytes: Buffer;
  /** Positions of its events; `last = first - 1` for an entry without events. */
  first: number;
  last: number;
  entryIndex: number;
}

/** The active segment's fields a round changes before writing, restored when the disk is full. */
interface SegmentTail {
  lastPosition: number;
  lastIndex: number;
  bytesSinceIndexEntry: number;
}

/**
 * Writes the group commit's rounds into the segments: one writev per segment a round touches,
 * sealing a full segment and starting the next on the way, and the `interval` policy's
 * fdatasyncs on schedule.
 */
export class RoundWriter {
  /** The active segment's handle: `roll` swaps it, and so does a truncation (after a drain). */
  writer: FileHandle;
  /**
   * The bytes of a segment an fdatasync has made durable (policy `always`). Invariant: `file`
   * is the active segment's, or one sealed since (sealing syncs it whole); `bytes` never passes
   * what was written before the last successful fdatasync began.
   */
  syncedTail: { file: string; bytes: number };
  /** Bytes written to the active segment since its last index entry. */
  private bytesSinceIndexEntry: number;
  /** When the last fdatasync started (for the `interval` policy). */
  private lastSync: number;

  constructor(private readonly options: RoundWriterOptions) {
    const last = options.segments[options.segments.length - 1]!;
    this.writer = options.writer;
    this.syncedTail = { file: last.file, bytes: last.size };
    this.lastSync = options.clock();
    this.bytesSinceIndexEntry = last.size - Math.max(last.index.lastOffset(), SEGMENT_HEADER_BYTES);
  }

  /** A truncation cut the active segment: `bytes` are written past its last index entry. */
  truncated(bytesSinceIndexEntry: number): void {
    this.bytesSinceIndexEntry = bytesSinceIndexEntry;
  }

  /** The `interval` policy's fdatasync when the log is idle (see `GroupCommit.syncNow`). */
  syncOnSchedule(): Promise<void> {
    this.lastSync = this.options.clock();
    return this.writer.datasync();
  }

  /**
   * Writes `round`; a full disk throws `PartlyWritten` with how many of its batches were
   * written (those before a segment roll, synced by it) after cutting the rest back out.
   */
  async writeRound(round: RoundBatch[]): Promise<void> {
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
    this.options.stats.bytesWritten += bytes;
    const policy = this.options.fsync;
    if (policy.kind === 'interval' && this.options.clock() - this.lastSync >= policy.ms) {
      this.lastSync = this.options.clock();
      await this.writer.datasync();
    }
  }

  /** Seals the active segment now if it holds events (no write may run meanwhile); returns whether it did. */
  async sealActive(): Promise<boolean> {
    const active = this.active();
    if (active.lastPosition < active.base) return false;
    await this.roll(active);
    return true;
  }

  /**
   * Seals `active` (fsync + index file) and starts the next segment. Batches written to it that
   * the sync stage has not synced yet are made durable by this fdatasync; afterwards the sync
   * stage syncs the new segment, a no-op for them. The handle is swapped before the old one is
   * closed, so the sync stage never sees a closed handle (close waits for a datasync in flight).
   */
  private async roll(active: Segment): Promise<Segment> {
    const { dir, fs, segments } = this.options;
    const old = this.writer;
    await old.datasync();
    await writeFileAtomic(indexFile(active.file), active.index.serialize(active.size, active.lastPosition), fs);
    const next = await createSegment(dir, active.lastPosition + 1, active.lastIndex + 1, fs);
    const handle = await openWriter(next.file, this.options.wrapWriter, fs);
    segments.push(next);
    this.writer = handle;
    this.syncedTail = { file: next.file, bytes: next.size }; // the old one is synced whole; the new one's header too
    this.bytesSinceIndexEntry = 0;
    await old.close();
    return next;
  }

  private active(): Segment {
    return this.options.segments[this.options.segments.length - 1]!;
  }
}

/** The handle writes of segment `file` go through. */
export async function openWriter(file: string, wrap: WrapWriter | undefined, fs: FileSystem): Promise<FileHandle> {
  const handle = await fs.open(file, 'r+');
  return wrap ? wrap(file, handle) : handle;
}
