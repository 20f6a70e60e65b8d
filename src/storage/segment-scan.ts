import { CorruptLogError } from '../types/errors.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';
import {
  BATCH_HEADER_BYTES,
  BATCH_KIND_CONFIG,
  BATCH_OVERHEAD_BYTES,
  BATCH_PREFIX_BYTES,
  MAX_BATCH_BODY_BYTES,
  type BatchCheck,
  type BatchChecksum,
  batchChecksum,
  batchCount,
  batchEntryIndex,
  batchFirstPosition,
  batchTerm,
  checkBatch,
} from './record.js';
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

/** Where a torn tail starts, or why the bytes at a bad batch are damage to data that was written whole. */
export type DamageVerdict = { kind: 'torn' } | { kind: 'corrupt'; reason: string };

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
      const verdict = judgeBadBatch(bytes, offset, check, expectedIndex, batchChecksum);
      if (options.tornTailAllowed && verdict.kind === 'torn') break;
      const reason = verdict.kind === 'corrupt' ? verdict.reason : 'batch runs past the end of the file';
      throw new CorruptLogError(file, offset, reason);
    }
    const first = batchFirstPosition(bytes, offset);
    if (first !== expected) {
      throw new CorruptLogError(file, offset, `batch starts at position ${first}, expected ${expected}`);
    }
    const entryIndex = batchEntryIndex(bytes, offset);
    if (entryIndex !== expectedIndex && offset === SEGMENT_HEADER_BYTES) {
      // The batch passed its checksum and the header has none: the header is what is wrong.
      const reason = `header base entry index ${baseIndex} does not match the first batch's entry ${entryIndex}`;
      throw new CorruptLogError(file, 0, reason);
    }
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

/**
 * Tells a torn write from damage, for the bad batch at `offset` that should be entry
 * `expectedIndex`. A crash during a write leaves the file ending inside the batch, or the
 * batch followed only by zeros; it never leaves a whole, valid batch after it. So whatever the
 * length field says (it may itself be the damaged bytes), a later valid batch of a later entry
 * means the bad bytes were once acknowledged data.
 */
export function judgeBadBatch(
  bytes: Buffer,
  offset: number,
  check: Exclude<BatchCheck, { kind: 'batch' }>,
  expectedIndex: number,
  checksum: BatchChecksum,
): DamageVerdict {
  const reason = check.kind === 'incomplete' ? 'batch runs past the end of the file' : check.reason;
  const later = findValidBatch(bytes, offset + 1, expectedIndex, checksum);
  if (later !== undefined) {
    return {
      kind: 'corrupt',
      reason: `${reason}; a valid batch (entry ${batchEntryIndex(bytes, later)}) follows at offset ${later}`,
    };
  }
  const whole = wholeBadBatch(bytes, offset, checksum);
  if (whole !== undefined) return { kind: 'corrupt', reason: `${reason}; ${whole}` };
  if (check.kind === 'incomplete' || check.end >= bytes.length || onlyZeros(bytes, check.end)) return { kind: 'torn' };
  return { kind: 'corrupt', reason: `${reason}; ${bytes.length - check.end} bytes that are not zeros follow it` };
}

/**
 * Why the bad batch at `offset`, the last bytes of the file but for zeros, is damage to a batch
 * that was whole, or undefined when it may be a torn write. A crash leaves the file ending
 * inside the batch it was writing, or the file's size kept and its unwritten end reading as
 * zeros up to the end of the file. So a batch was whole when its checksum matches once its
 * length is taken from where the file ends (the length field is what changed), or when its
 * stated length ends it within the file and its last byte is not zero (a flipped bit inside
 * it). A whole batch whose last byte is zero (a no-op entry's is) still reads as torn.
 */
function wholeBadBatch(bytes: Buffer, offset: number, checksum: BatchChecksum): string | undefined {
  if (bytes.length - offset < BATCH_OVERHEAD_BYTES) return undefined;
  const stated = bytes.readUInt32LE(offset);
  const implied = bytes.length - offset - BATCH_PREFIX_BYTES;
  if (implied !== stated && implied <= MAX_BATCH_BODY_BYTES) {
    const repaired = Buffer.from(bytes.subarray(offset));
    repaired.writeUInt32LE(implied, 0);
    if (checkBatch(repaired, 0, repaired.length, checksum).kind === 'batch')
      return `its length field is damaged: the batch is whole and valid with length ${implied}`;
  }
  if (stated < BATCH_HEADER_BYTES || stated > MAX_BATCH_BODY_BYTES) return undefined;
  const end = offset + BATCH_PREFIX_BYTES + stated;
  if (end > bytes.length || !onlyZeros(bytes, end)) return undefined;
  if (bytes[end - 1] === 0) return undefined;
  return 'the batch is whole and its last byte written: not a torn write';
}

/**
 * Offset of the first valid batch at or after `from` whose entry index is `minIndex` or
 * more, or undefined. Cheap tests on the prefix and header come before the checksum, so
 * garbage or zeros cost a few reads per byte.
 */
function findValidBatch(bytes: Buffer, from: number, minIndex: number, checksum: BatchChecksum): number | undefined {
  const length = bytes.length;
  const maxIndex = minIndex + Math.ceil(length / BATCH_OVERHEAD_BYTES);
  for (let at = from; at + BATCH_OVERHEAD_BYTES <= length; at++) {
    const bodyLength = bytes.readUInt32LE(at);
    if (bodyLength < BATCH_HEADER_BYTES || bodyLength > MAX_BATCH_BODY_BYTES) continue;
    if (at + BATCH_PREFIX_BYTES + bodyLength > length) continue;
    if (bytes[at + BATCH_PREFIX_BYTES]! > BATCH_KIND_CONFIG) continue;
    const entryIndex = batchEntryIndex(bytes, at);
    if (entryIndex < minIndex || entryIndex > maxIndex) continue;
    if (checkBatch(bytes, at, length, checksum).kind === 'batch') return at;
  }
  return undefined;
}

function onlyZeros(bytes: Buffer, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}
