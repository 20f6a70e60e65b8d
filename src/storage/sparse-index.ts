import { crc32c } from './crc.js';
import { readU64, writeU64 } from './record.js';

/** Distance between sparse index entries unless the log is opened with another. */
export const DEFAULT_INDEX_INTERVAL_BYTES = 4 * 1024;

/**
 * One entry per ~indexIntervalBytes of a segment: (position of a batch's first record, its byte
 * offset). A read seeks to the floor entry and scans forward at most one interval.
 * Sealed segments keep it in `<base>.idx`; the active segment's is rebuilt by recovery's scan.
 */
export class SparseIndex {
  private positions: number[] = [];
  private offsets: number[] = [];

  get size(): number {
    return this.positions.length;
  }

  add(position: number, offset: number): void {
    this.positions.push(position);
    this.offsets.push(offset);
  }

  /** Byte offset of the last entry whose position is <= `position`, or `fallback`. */
  floorOffset(position: number, fallback: number): number {
    let low = 0;
    let high = this.positions.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.positions[mid]! <= position) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found === -1 ? fallback : this.offsets[found]!;
  }

  /** Drops every entry at or after byte `offset` (after a truncation). */
  dropFromOffset(offset: number): void {
    let keep = this.offsets.length;
    while (keep > 0 && this.offsets[keep - 1]! >= offset) keep--;
    this.positions.length = keep;
    this.offsets.length = keep;
  }

  /** Every entry, for verification. */
  entries(): Array<{ position: number; offset: number }> {
    return this.positions.map((position, i) => ({ position, offset: this.offsets[i]! }));
  }

  lastOffset(): number {
    return this.offsets.length === 0 ? -1 : this.offsets[this.offsets.length - 1]!;
  }

  /**
   * File layout: "ORDI" | u8 version | 3 reserved | u64 segmentBytes | u64 lastPosition |
   * u32 entries | entries × (u64 position, u64 offset) | u32 crc32c of everything before it.
   */
  serialize(segmentBytes: number, lastPosition: number): Buffer {
    const entries = this.positions.length;
    const bytes = Buffer.alloc(INDEX_HEADER_BYTES + entries * 16 + 4);
    bytes.write('ORDI', 0, 'latin1');
    bytes[4] = INDEX_FORMAT_VERSION;
    writeU64(bytes, 8, segmentBytes);
    writeU64(bytes, 16, lastPosition + 1); // +1 so an empty segment (-1) stays unsigned
    bytes.writeUInt32LE(entries, 24);
    let at = INDEX_HEADER_BYTES;
    for (let i = 0; i < entries; i++) {
      writeU64(bytes, at, this.positions[i]!);
      writeU64(bytes, at + 8, this.offsets[i]!);
      at += 16;
    }
    bytes.writeUInt32LE(crc32c(bytes.subarray(0, at)), at);
    return bytes;
  }

  /** Undefined when the file is damaged or describes another length of the segment: rebuild then. */
  static deserialize(bytes: Buffer, segmentBytes: number): { index: SparseIndex; lastPosition: number } | undefined {
    if (bytes.length < INDEX_HEADER_BYTES + 4 || bytes.toString('latin1', 0, 4) !== 'ORDI') return undefined;
    if (bytes[4] !== INDEX_FORMAT_VERSION) return undefined;
    const entries = bytes.readUInt32LE(24);
    const end = INDEX_HEADER_BYTES + entries * 16;
    if (bytes.length !== end + 4) return undefined;
    if (crc32c(bytes.subarray(0, end)) !== bytes.readUInt32LE(end)) return undefined;
    if (readU64(bytes, 8) !== segmentBytes) return undefined;
    const index = new SparseIndex();
    for (let at = INDEX_HEADER_BYTES; at < end; at += 16) index.add(readU64(bytes, at), readU64(bytes, at + 8));
    return { index, lastPosition: readU64(bytes, 16) - 1 };
  }
}

const INDEX_HEADER_BYTES = 28;
const INDEX_FORMAT_VERSION = 1;
