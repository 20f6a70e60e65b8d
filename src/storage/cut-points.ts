import { StorageFailedError } from '../types/errors.js';
import type { FileSystem } from './file-system.js';
import { batchCount, batchEntryIndex, batchFirstPosition, batchTerm } from './record.js';
import type { Segment } from './segment.js';
import { SEGMENT_HEADER_BYTES } from './segment-file.js';
import { scanSegment } from './segment-scan.js';

/** Before each batch's body: u32 body length | u32 crc32c (the format of record.ts). */
const BATCH_PREFIX_BYTES = 8;

/** Where a truncation cuts a segment, and what the segment then ends with. */
export interface CutPoint {
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
export async function cutAfterPosition(
  segment: Segment,
  position: number,
  before: boolean,
  fs: FileSystem,
): Promise<CutPoint> {
  if (before) return cutBeforeEveryBatch(segment);
  let found: CutPoint | undefined;
  let inside = false;
  const onBatch = (bytes: Buffer, offset: number): void => {
    const first = batchFirstPosition(bytes, offset);
    const last = first + batchCount(bytes, offset) - 1;
    if (last === position) found = cutAfterBatch(bytes, offset);
    else if (first <= position && position < last) inside = true;
  };
  await scanSegment(segment.file, segment.base, { tornTailAllowed: true, onBatch }, fs);
  if (inside) {
    throw new StorageFailedError(
      `cannot truncate after position ${position}: it is inside a batch (an append is all or nothing)`,
    );
  }
  if (!found) throw new StorageFailedError(`position ${position} not found in ${segment.file}`);
  return found;
}

/** Where to cut so that the segment ends with entry `entryIndex`. */
export async function cutAfterEntry(segment: Segment, entryIndex: number, fs: FileSystem): Promise<CutPoint> {
  let found = cutBeforeEveryBatch(segment);
  if (entryIndex < segment.baseIndex) return found;
  const onBatch = (bytes: Buffer, offset: number): void => {
    if (batchEntryIndex(bytes, offset) <= entryIndex) found = cutAfterBatch(bytes, offset);
  };
  await scanSegment(segment.file, segment.base, { tornTailAllowed: true, onBatch }, fs);
  if (found.lastIndex !== entryIndex) throw new StorageFailedError(`entry ${entryIndex} not found in ${segment.file}`);
  return found;
}

function cutBeforeEveryBatch(segment: Segment): CutPoint {
  const cut = SEGMENT_HEADER_BYTES;
  return { cut, lastPosition: segment.base - 1, lastIndex: segment.baseIndex - 1, lastTerm: undefined };
}

/** Keeps the batch at `offset` of the segment's `bytes` as its last. */
function cutAfterBatch(bytes: Buffer, offset: number): CutPoint {
  return {
    cut: offset + BATCH_PREFIX_BYTES + bytes.readUInt32LE(offset),
    lastPosition: batchFirstPosition(bytes, offset) + batchCount(bytes, offset) - 1,
    lastIndex: batchEntryIndex(bytes, offset),
    lastTerm: batchTerm(bytes, offset),
  };
}
