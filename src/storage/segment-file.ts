import { readU64, writeU64 } from './record.js';

/**
 * A segment file starts with a 24-byte header: "ORDO" | u8 format version | u8 file kind |
 * u16 reserved | u64 base position (the position of its first record) | u64 base entry index
 * (the Raft index of its first batch). Batches follow.
 */
export const SEGMENT_HEADER_BYTES = 24;
/**
 * Version 2 added the Raft entry index to segments and batches, and entries without events.
 * Version 3's batch checksum covers the length field too; version 2 segments are upgraded in
 * place at open (segment-upgrade.ts).
 */
export const FORMAT_VERSION = 3;
/** The one older version this Ordo still opens, by upgrading it. */
export const UPGRADABLE_FORMAT_VERSION = 2;
/** Offset of the format version byte in a segment header. */
export const AT_FORMAT_VERSION = 4;
export const FILE_KIND_SEGMENT = 1;
export const SEGMENT_SUFFIX = '.seg';
export const INDEX_SUFFIX = '.idx';

/** 20 digits: the largest safe position (2^53) has 16, and names sort as numbers. */
export function segmentName(base: number): string {
  return `${String(base).padStart(20, '0')}${SEGMENT_SUFFIX}`;
}

export function parseSegmentName(name: string): number | undefined {
  if (!name.endsWith(SEGMENT_SUFFIX)) return undefined;
  const digits = name.slice(0, -SEGMENT_SUFFIX.length);
  if (!/^\d{20}$/.test(digits)) return undefined;
  return Number(digits);
}

export function encodeSegmentHeader(base: number, baseIndex: number): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  header.write('ORDO', 0, 'latin1');
  header[AT_FORMAT_VERSION] = FORMAT_VERSION;
  header[5] = FILE_KIND_SEGMENT;
  writeU64(header, 8, base);
  writeU64(header, 16, baseIndex);
  return header;
}

export function segmentBaseIndex(header: Buffer): number {
  return readU64(header, 16);
}

/** A reason the header is unusable, or undefined when it is a valid header for `base`. */
export function checkSegmentHeader(header: Buffer, base: number, version = FORMAT_VERSION): string | undefined {
  if (header.length < SEGMENT_HEADER_BYTES) return `header is ${header.length} bytes, expected ${SEGMENT_HEADER_BYTES}`;
  if (header.toString('latin1', 0, 4) !== 'ORDO')
    return `bad magic ${JSON.stringify(header.toString('latin1', 0, 4))}, expected "ORDO"`;
  if (header[AT_FORMAT_VERSION] !== version) {
    const found = header[AT_FORMAT_VERSION];
    const hint =
      found === 1
        ? ' (written by an Ordo from before replication; read it with that version and append its events to a new log)'
        : found === UPGRADABLE_FORMAT_VERSION && version === FORMAT_VERSION
          ? ' (opening the log upgrades it in place)'
          : '';
    return `format version ${header[AT_FORMAT_VERSION]}, this Ordo reads version ${version}${hint}`;
  }
  if (header[5] !== FILE_KIND_SEGMENT) return `file kind ${header[5]}, expected ${FILE_KIND_SEGMENT} (segment)`;
  const stored = readU64(header, 8);
  if (stored !== base) return `header base position ${stored} does not match file name ${base}`;
  if (segmentBaseIndex(header) < 1) return `header base entry index ${segmentBaseIndex(header)}, expected ≥ 1`;
  return undefined;
}
