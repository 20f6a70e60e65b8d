import { CorruptLogError, StorageFailedError } from '../types/errors.js';
import { readAt } from './file-io.js';
import type { FileHandle, FileSystem } from './file-system.js';
import { holeBatch, type GoneRule } from './hole-records.js';
import { batchCount, batchFirstPosition, checkBatch } from './record.js';
import type { Segment } from './segment.js';
import { SEGMENT_HEADER_BYTES } from './segment-file.js';
import { SparseIndex } from './sparse-index.js';

/** Bytes read or written between two calls of the pace (so a rate limit has a grain to work with). */
export const REWRITE_CHUNK_BYTES = 1024 * 1024;

/** Waits as long as the I/O budget asks after `bytes` were read or written. */
export type Pace = (bytes: number) => Promise<void>;

/** What rewriting a sealed segment needs. */
export interface RewriteOptions {
  readonly fs: FileSystem;
  readonly indexIntervalBytes: number;
  readonly pace: Pace;
}

/** A rewritten copy of a sealed segment, written and fdatasynced beside it, not yet in its place. */
export interface RewrittenSegment {
  /** The copy (`<segment>.tmp`: open removes it if a crash comes first). */
  readonly file: string;
  readonly size: number;
  readonly index: SparseIndex;
  readonly holes: number;
  readonly bytesBefore: number;
}

/**
 * Reads `segment` (sealed: nothing writes it) and, if `gone` names any record in it, writes a
 * copy with those records as holes to `<file>.tmp` and fdatasyncs it. Positions, entry
 * indexes and batch counts stay; only lengths, checksums and offsets change. Undefined when
 * nothing in the segment is gone (no copy is written).
 */
export async function rewriteSegment(
  segment: Segment,
  gone: GoneRule,
  options: RewriteOptions,
): Promise<RewrittenSegment | undefined> {
  const parts = await readAndHole(segment, gone, options);
  if (parts.holes === 0) return undefined;
  const file = `${segment.file}.tmp`;
  const written = await writePaced(file, parts.buffers, options);
  return { file, size: written.size, index: written.index, holes: parts.holes, bytesBefore: segment.size };
}

/**
 * Reads the segment a chunk at a time and holes the batches each chunk completes before the
 * pace lets the next one in: the work between two waits stays about one chunk's, so a pass
 * never holds the event loop for a whole segment.
 */
async function readAndHole(segment: Segment, gone: GoneRule, options: RewriteOptions): Promise<HoledParts> {
  const bytes = Buffer.allocUnsafe(segment.size);
  const holing = new Holing(segment, bytes, gone);
  const handle = await options.fs.open(segment.file, 'r');
  try {
    for (let at = 0; at < segment.size; at += REWRITE_CHUNK_BYTES) {
      const length = Math.min(REWRITE_CHUNK_BYTES, segment.size - at);
      const read = await readAt(handle, bytes.subarray(at), length, at);
      if (read !== length) throw new CorruptLogError(segment.file, at + read, 'the sealed segment ends early');
      holing.advance(at + length);
      await options.pace(length);
    }
  } finally {
    await handle.close();
  }
  return holing.finish();
}

/** The segment's bytes as a list of buffers (header, then each batch as it was or holed). */
interface HoledParts {
  buffers: Buffer[];
  holes: number;
}

/** Walks a segment's batches as its bytes arrive, holing what `gone` names. */
class Holing {
  private readonly buffers: Buffer[];
  private holes = 0;
  private at = SEGMENT_HEADER_BYTES;
  private expected: number;

  constructor(
    private readonly segment: Segment,
    private readonly bytes: Buffer,
    private readonly gone: GoneRule,
  ) {
    this.buffers = [bytes.subarray(0, SEGMENT_HEADER_BYTES)];
    this.expected = segment.base;
  }

  /** Holes every whole batch within the first `available` bytes. */
  advance(available: number): void {
    const { bytes, segment } = this;
    while (this.at < available) {
      const check = checkBatch(bytes, this.at, available);
      if (check.kind === 'incomplete') return;
      if (check.kind === 'corrupt') throw new CorruptLogError(segment.file, this.at, check.reason);
      const first = batchFirstPosition(bytes, this.at);
      if (first !== this.expected)
        throw new CorruptLogError(
          segment.file,
          this.at,
          `batch starts at position ${first}, expected ${this.expected}`,
        );
      this.expected = first + batchCount(bytes, this.at);
      const holed = holeBatch(bytes, this.at, check.end, this.gone);
      this.buffers.push(holed ? holed.bytes : bytes.subarray(this.at, check.end));
      this.holes += holed ? holed.holes : 0;
      this.at = check.end;
    }
  }

  finish(): HoledParts {
    if (this.at !== this.bytes.length)
      throw new CorruptLogError(this.segment.file, this.at, 'a batch runs past the end of the sealed segment');
    return { buffers: this.buffers, holes: this.holes };
  }
}

/** Writes `buffers` to `file` in paced chunks (one writev each), fdatasyncs it, and builds its sparse index. */
async function writePaced(
  file: string,
  buffers: Buffer[],
  options: RewriteOptions,
): Promise<{ size: number; index: SparseIndex }> {
  const index = new SparseIndex();
  const handle = await options.fs.open(file, 'w');
  try {
    let size = 0;
    let sinceEntry = 0;
    let chunk: Buffer[] = [];
    let chunkBytes = 0;
    for (let i = 0; i < buffers.length; i++) {
      const buffer = buffers[i]!;
      if (i > 0 && (index.size === 0 || sinceEntry >= options.indexIntervalBytes)) {
        index.add(batchFirstPosition(buffer, 0), size + chunkBytes);
        sinceEntry = 0;
      }
      if (i > 0) sinceEntry += buffer.length;
      chunk.push(buffer);
      chunkBytes += buffer.length;
      if (chunkBytes >= REWRITE_CHUNK_BYTES || i === buffers.length - 1) {
        await writeAll(handle, chunk, chunkBytes, size, file);
        await options.pace(chunkBytes);
        size += chunkBytes;
        chunk = [];
        chunkBytes = 0;
      }
    }
    await handle.datasync();
    return { size, index };
  } finally {
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, chunk: Buffer[], bytes: number, at: number, file: string): Promise<void> {
  const { bytesWritten } = await handle.writev(chunk, at);
  if (bytesWritten !== bytes) throw new StorageFailedError(`short write to ${file}: ${bytesWritten} of ${bytes} bytes`);
}
