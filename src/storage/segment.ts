import { join } from 'node:path';
import { unlinkIfExists, writeFileAtomic } from './file-io.js';
import type { FileSystem } from './file-system.js';
import {
  INDEX_SUFFIX,
  SEGMENT_HEADER_BYTES,
  SEGMENT_SUFFIX,
  encodeSegmentHeader,
  segmentName,
} from './segment-file.js';
import { SparseIndex } from './sparse-index.js';

/** What the log knows of one segment file while it is open. */
export interface Segment {
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

/** The sparse index file of a sealed segment, beside it. */
export function indexFile(segmentFile: string): string {
  return segmentFile.slice(0, -SEGMENT_SUFFIX.length) + INDEX_SUFFIX;
}

/**
 * Removes a sealed segment's index file, so that the next open scans the segment batch by batch
 * instead of trusting the index (a scan is what finds damage and cuts a cluster member's log there).
 */
export function forgetSegmentIndex(segmentFile: string, fs: FileSystem): Promise<void> {
  return unlinkIfExists(indexFile(segmentFile), fs);
}

/**
 * A new segment appears whole or not at all (written aside, fsynced, renamed): a crash while
 * rolling never leaves a headerless last segment that open would take for corruption.
 */
export async function createSegment(dir: string, base: number, baseIndex: number, fs: FileSystem): Promise<Segment> {
  const file = join(dir, segmentName(base));
  await writeFileAtomic(file, encodeSegmentHeader(base, baseIndex), fs);
  return {
    base,
    baseIndex,
    lastIndex: baseIndex - 1,
    file,
    size: SEGMENT_HEADER_BYTES,
    lastPosition: base - 1,
    index: new SparseIndex(),
  };
}

/** Binary search: the last of `segments` (in order) for which `starts` holds, or 0. */
export function lastSegmentWhere(segments: readonly Segment[], starts: (segment: Segment) => boolean): number {
  let low = 0;
  let high = segments.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >>> 1;
    if (starts(segments[mid]!)) low = mid;
    else high = mid - 1;
  }
  return low;
}
