import { CorruptLogError } from '../types/errors.js';
import { readAt } from './file-io.js';
import type { FileHandle, FileSystem } from './file-system.js';
import {
  checkBatch,
  firstRecordOffset,
  nextRecordOffset,
  readBatchHeader,
  type BatchHeader,
  type RecordDecoder,
} from './record.js';
import { lastSegmentWhere, type Segment } from './segment.js';
import { SEGMENT_HEADER_BYTES } from './segment-file.js';

/** Bytes a sequential read asks the OS for at once. */
export const READ_CHUNK_BYTES = 256 * 1024;
/** Smallest chunk a read asks for, however little it wants, so short reads still batch their I/O. */
const MIN_READ_CHUNK_BYTES = 64 * 1024;

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

type BatchVisitor = (chunk: Buffer, at: number, end: number, header: BatchHeader, fileOffset: number) => boolean;

interface ReaderEntry {
  handle: Promise<FileHandle>;
  users: number;
  evicted: boolean;
}

/**
 * Reads the log's segments through read handles, least recently used closed first, so open files
 * stay bounded. A handle is shared by concurrent reads of its segment and closed only once no read
 * uses it. `segments` is the log's own list (it rolls and truncates it); callers bound what is
 * read by what has been written.
 */
export class SegmentReader {
  private readonly readers = new Map<string, ReaderEntry>();

  constructor(
    private readonly segments: readonly Segment[],
    private readonly fs: FileSystem,
    private readonly maxOpenFiles: number,
    /** Told of every damaged batch a read runs into, before the read fails with it. */
    private readonly onCorrupt: (error: CorruptLogError) => void = () => undefined,
  ) {}

  /** Records with `from <= position <= to`, in order, up to about `maxBytes`, decoded by `decode`. */
  async readRecords<T>(from: number, to: number, maxBytes: number, decode: RecordDecoder<T>): Promise<T[]> {
    const records: T[] = [];
    let segmentIndex = lastSegmentWhere(this.segments, (segment) => segment.base <= from);
    let collected = 0;
    while (segmentIndex < this.segments.length && collected < maxBytes) {
      const segment = this.segments[segmentIndex]!;
      const offset = segment.index.floorOffset(from, SEGMENT_HEADER_BYTES);
      // The walk starts at a batch at or before `from` (the index's floor entry, or the first batch).
      const startsBy = Math.max(from, segment.base);
      let started = false;
      const done = await this.walkBatches(
        segment,
        offset,
        chunkBytesFor(maxBytes),
        (chunk, at, end, header, fileOffset) => {
          const first = header.firstPosition;
          if (!started && first > startsBy) {
            const problem = `batch starts at position ${first}, expected one at or before ${startsBy}`;
            throw new CorruptLogError(segment.file, fileOffset, problem);
          }
          started = true;
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
        },
      );
      if (done || to <= segment.lastPosition) break;
      from = segment.lastPosition + 1;
      // Found again by position: retention may have removed segments from the front meanwhile.
      segmentIndex = lastSegmentWhere(this.segments, (next) => next.base <= from);
      if (this.segments[segmentIndex]!.base > from) break; // `from` went with them: the caller sees a short read
    }
    return records;
  }

  /** Whole batches `fromIndex..toIndex` as stored, in order, up to about `maxBytes` (see SegmentedLog). */
  async readBatches(
    fromIndex: number,
    toIndex: number,
    positionHint: number,
    maxBytes: number,
  ): Promise<StoredBatch[]> {
    const batches: StoredBatch[] = [];
    let segmentIndex = lastSegmentWhere(this.segments, (segment) => segment.baseIndex <= fromIndex);
    let collected = 0;
    let next = fromIndex;
    while (segmentIndex < this.segments.length && collected < maxBytes && next <= toIndex) {
      const segment = this.segments[segmentIndex]!;
      // A batch with first position <= hint - 1 lies before every batch of entry >= fromIndex.
      const offset =
        next === fromIndex ? segment.index.floorOffset(positionHint - 1, SEGMENT_HEADER_BYTES) : SEGMENT_HEADER_BYTES;
      await this.walkBatches(segment, offset, chunkBytesFor(maxBytes), (chunk, at, end, header, fileOffset) => {
        if (header.entryIndex >= next && header.entryIndex <= toIndex) {
          if (header.entryIndex !== next) {
            const problem = `entry ${header.entryIndex} where entry ${next} was expected`;
            throw new CorruptLogError(segment.file, fileOffset, problem);
          }
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

  /** Closes the read handle of `file` (once no read uses it): the file is being cut or removed. */
  async close(file: string): Promise<void> {
    const entry = this.readers.get(file);
    if (!entry) return;
    this.readers.delete(file);
    entry.evicted = true;
    if (entry.users === 0) await closeQuietly(entry.handle);
  }

  async closeAll(): Promise<void> {
    for (const file of [...this.readers.keys()]) await this.close(file);
  }

  /**
   * Walks the whole batches of `segment` from byte `offset` on, reading chunks of about
   * `chunkBytes`, and calls `visit(chunk, at, end, header, fileOffset)` for each until it returns true.
   * Every chunk is a fresh buffer, so views into one stay valid after the walk moves on (reads
   * hand out records that keep them). Returns whether `visit` finished (false: the segment ended).
   */
  private async walkBatches(
    segment: Segment,
    offset: number,
    chunkBytes: number,
    visit: BatchVisitor,
  ): Promise<boolean> {
    try {
      return await this.walkBatchesOf(segment, offset, chunkBytes, visit);
    } catch (error) {
      if (error instanceof CorruptLogError) this.onCorrupt(error);
      throw error;
    }
  }

  private walkBatchesOf(segment: Segment, offset: number, chunkBytes: number, visit: BatchVisitor): Promise<boolean> {
    return this.withReader(segment, async (handle) => {
      const end = segment.size;
      let chunk = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(end - offset, 8)));
      // Each batch must continue the one before it: a whole batch with a right checksum can
      // still be in the wrong place (a misdirected write), and a read would answer wrong events.
      let previous: BatchHeader | undefined;
      while (offset < end) {
        const length = await readAt(handle, chunk, Math.min(chunk.length, end - offset), offset);
        let at = 0;
        for (;;) {
          const check = checkBatch(chunk, at, length);
          if (check.kind === 'incomplete') break;
          if (check.kind === 'corrupt') throw new CorruptLogError(segment.file, offset + at, check.reason);
          const header = readBatchHeader(chunk, at);
          const problem = previous && outOfSequence(previous, header);
          if (problem) throw new CorruptLogError(segment.file, offset + at, problem);
          previous = header;
          if (visit(chunk, at, check.end, header, offset + at)) return true;
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

  private async withReader<T>(segment: Segment, use: (handle: FileHandle) => Promise<T>): Promise<T> {
    let entry = this.readers.get(segment.file);
    if (entry) {
      this.readers.delete(segment.file); // re-insert: most recently used last
    } else {
      entry = { handle: this.fs.open(segment.file, 'r'), users: 0, evicted: false };
    }
    this.readers.set(segment.file, entry);
    entry.users++;
    for (const [file, other] of this.readers) {
      if (this.readers.size <= this.maxOpenFiles) break;
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
}

/** Why `header` cannot follow `previous` in a segment, or undefined when it does. */
function outOfSequence(previous: BatchHeader, header: BatchHeader): string | undefined {
  const position = previous.firstPosition + previous.count;
  if (header.firstPosition !== position)
    return `batch starts at position ${header.firstPosition}, expected ${position}`;
  if (header.entryIndex !== previous.entryIndex + 1)
    return `entry ${header.entryIndex} where entry ${previous.entryIndex + 1} was expected`;
  return undefined;
}

function chunkBytesFor(maxBytes: number): number {
  return Math.max(maxBytes, MIN_READ_CHUNK_BYTES);
}

async function closeQuietly(handle: Promise<FileHandle>): Promise<void> {
  await handle.then((h) => h.close()).catch(() => undefined);
}

/**
 * No whole batch fit in `chunk` (read at `offset`): a chunk large enough for the batch there,
 * to read it again; CorruptLogError if the batch claims to run past the segment's end.
 */
function chunkForBatch(
  chunk: Buffer,
  length: number,
  offset: number,
  end: number,
  file: string,
): ReturnType<typeof Buffer.allocUnsafe> {
  const needed = length < 8 ? 8 : chunk.readUInt32LE(0) + 8;
  if (needed <= chunk.length || offset + needed > end) {
    throw new CorruptLogError(file, offset, `batch of ${needed} bytes runs past the end of the segment`);
  }
  return Buffer.allocUnsafe(needed);
}
