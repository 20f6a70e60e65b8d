import { CorruptLogError } from '../types/errors.js';
import { writeFileAtomic } from './file-io.js';
import type { FileSystem } from './file-system.js';
import { batchChecksum, batchEntryIndex, bodyOnlyChecksum, checkBatch } from './record.js';
import {
  AT_FORMAT_VERSION,
  FORMAT_VERSION,
  SEGMENT_HEADER_BYTES,
  UPGRADABLE_FORMAT_VERSION,
  checkSegmentHeader,
  segmentBaseIndex,
} from './segment-file.js';
import { judgeBadBatch } from './segment-scan.js';

/** What upgrading one segment did. */
export interface SegmentUpgrade {
  /** False when the segment already had the current format. */
  upgraded: boolean;
  /** Bytes of a torn tail left out of the upgraded copy (active segment only). */
  truncatedBytes: number;
  /** Size of the upgraded file. */
  validBytes: number;
}

/**
 * Rewrites a version 2 segment in the current format, in place: every batch is checked under
 * the old rule (checksum over the body), then given the new checksum (over length and body),
 * and the copy is written aside, fdatasynced and renamed over the original. A crash leaves the
 * segment all old or all new, and the version byte says which, so each segment is upgraded on
 * its own and an interrupted upgrade continues at the next open. Offsets do not change, so
 * index files stay valid. Only the active segment may end in a torn tail; it is left out.
 */
export async function upgradeSegment(
  file: string,
  base: number,
  active: boolean,
  fs: FileSystem,
): Promise<SegmentUpgrade> {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  const handle = await fs.open(file, 'r');
  try {
    await handle.read(header, 0, SEGMENT_HEADER_BYTES, 0);
  } finally {
    await handle.close();
  }
  if (header[AT_FORMAT_VERSION] !== UPGRADABLE_FORMAT_VERSION)
    return { upgraded: false, truncatedBytes: 0, validBytes: 0 };
  const bytes = await fs.readFile(file);
  const problem = checkSegmentHeader(bytes, base, UPGRADABLE_FORMAT_VERSION);
  if (problem) throw new CorruptLogError(file, 0, problem);
  const validBytes = resealBatches(file, bytes, active);
  bytes[AT_FORMAT_VERSION] = FORMAT_VERSION;
  await writeFileAtomic(file, bytes.subarray(0, validBytes), fs);
  return { upgraded: true, truncatedBytes: bytes.length - validBytes, validBytes };
}

/** Gives every batch the new checksum; returns where the valid batches end. */
function resealBatches(file: string, bytes: Buffer, active: boolean): number {
  let offset = SEGMENT_HEADER_BYTES;
  let expectedIndex = segmentBaseIndex(bytes);
  while (offset < bytes.length) {
    const check = checkBatch(bytes, offset, bytes.length, bodyOnlyChecksum);
    if (check.kind !== 'batch') {
      const verdict = judgeBadBatch(bytes, offset, check, expectedIndex, bodyOnlyChecksum);
      if (active && verdict.kind === 'torn') return offset;
      const reason = verdict.kind === 'corrupt' ? verdict.reason : 'batch runs past the end of the file';
      throw new CorruptLogError(file, offset, `${reason} (checking a version 2 segment before upgrading it)`);
    }
    bytes.writeUInt32LE(batchChecksum(bytes, offset, check.end), offset + 4);
    expectedIndex = batchEntryIndex(bytes, offset) + 1;
    offset = check.end;
  }
  return offset;
}
