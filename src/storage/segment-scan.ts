import { CorruptLogError } from '../types/errors.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';
import { batchCount, batchEntryIndex, batchFirstPosition, batchTerm, checkBatch } from './record.js';
import type { Segment } from './segment.js';
import { SEGMENT_HEADER_BYTES, checkSegmentHeader, segmentBaseIndex } from './segment-file.js';
import { DEFAULT_INDEX_INTERVAL_BYTES, SparseIndex } from './sparse-index.js';

export interface SegmentScan {
  index: SparseIndex;
  lastPosition: number;
  lastTerm: number;
  baseIndex: number;
  lastIndex: number;
  /** Bytes up to the end of the last complete batch. */
  validBytes: number;
  fileBytes: number;
}

export interface ScanOptions {
  tornTailAllowed: boolean;
  onBatch?: (bytes: Buffer, offset: number) => void;
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
  options: ScanOptions,
  fs: FileSystem = nodeFileSystem,
): Promise<SegmentScan> {
  const bytes = await fs.readFile(file);
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
    if (first !== expected) {
      throw new CorruptLogError(file, offset, `batch starts at position ${first}, expected ${expected}`);
    }
    const entryIndex = batchEntryIndex(bytes, offset);
    if (entryIndex !== expectedIndex) {
      throw new CorruptLogError(file, offset, `batch is entry ${entryIndex}, expected entry ${expectedIndex}`);
    }
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
  const lastIndex = expectedIndex - 1;
  const lastPosition = expected - 1;
  return { index, lastPosition, lastTerm, baseIndex, lastIndex, validBytes: offset, fileBytes: bytes.length };
}

/** Term of the last record of `segment`; 0 when it holds none. */
export async function lastTermOf(segment: Segment, fs: FileSystem): Promise<number> {
  if (segment.lastPosition < segment.base) return 0;
  return (await scanSegment(segment.file, segment.base, { tornTailAllowed: true }, fs)).lastTerm;
}

function onlyZeros(bytes: Buffer, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}
