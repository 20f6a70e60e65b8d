import { crc32c } from './crc.js';
import { RECORD_AT } from '../types/record-layout.js';
import { setU64, u64FromHalves, u64High, u64Low } from '../types/u64.js';
import { readUuid, writeUuid } from '../types/uuid.js';

/**
 * The log's byte format (docs/format.md). The unit on disk is a *batch*: one append (later,
 * one Raft entry), written and checked as a whole, like Kafka's RecordBatch:
 *
 *   u32 bodyLength | u32 crc32c(bodyLength bytes, body) | body
 *   body = 40-byte batch header (kind, record count, term, first position, timestamp, entry index)
 *        + records, each: u32 length | 40-byte record header | stream | type | metadata | data
 *          | claim changes (the first record of an append part that claims or releases values)
 *
 * A batch is one Raft entry: the entry index is its place in the Raft log (1, 2, …, no gaps).
 * Besides events, an entry may be a new leader's no-op or a membership change: those hold no
 * events (count 0) and take no position; a config entry's body holds its change after the header.
 *
 * One checksum per batch: a batch is all there or cut away, and a 1000-event append costs one
 * CRC instead of a thousand native calls. Positions are implicit (first position + i); each
 * record keeps its stream index and id. Integers are little-endian; 64-bit ones are two u32
 * halves (positions stay below 2^53, so JS numbers hold them exactly and no BigInt is needed).
 */
export const BATCH_PREFIX_BYTES = 8;
export const BATCH_HEADER_BYTES = 40;
export const BATCH_OVERHEAD_BYTES = BATCH_PREFIX_BYTES + BATCH_HEADER_BYTES;
export const RECORD_LENGTH_BYTES = 4;
export const RECORD_HEADER_BYTES = 40;
export const RECORD_OVERHEAD_BYTES = RECORD_LENGTH_BYTES + RECORD_HEADER_BYTES;
/** Bodies larger than this are treated as garbage by recovery (max event 1 MiB by default). */
export const MAX_BATCH_BODY_BYTES = 256 * 1024 * 1024;

export const BATCH_KIND_EVENTS = 0;
/** A new leader's empty entry (committing it commits everything before it). */
export const BATCH_KIND_NOOP = 1;
/** A membership change; its payload follows the header. */
export const BATCH_KIND_CONFIG = 2;
export type BatchKind = typeof BATCH_KIND_EVENTS | typeof BATCH_KIND_NOOP | typeof BATCH_KIND_CONFIG;

/** Record flags. */
export const FLAG_DATA_JSON = 1;
/** The log generated the id (the writer gave none): it cannot be retried, so it is not remembered for idempotency. */
export const FLAG_GENERATED_ID = 2;

// Batch body offsets.
const AT_BATCH_KIND = 0;
const AT_BATCH_COUNT = 4;
const AT_BATCH_TERM = 8;
const AT_BATCH_FIRST_POSITION = 16;
const AT_BATCH_TIMESTAMP = 24;
const AT_BATCH_ENTRY_INDEX = 32;

// Record offsets, from the start of the record (its length field).
const {
  FLAGS: AT_FLAGS,
  STREAM_LENGTH: AT_STREAM_LENGTH,
  TYPE_LENGTH: AT_TYPE_LENGTH,
  CLAIMS_LENGTH: AT_CLAIMS_LENGTH,
  INDEX: AT_INDEX,
  ID: AT_ID,
  METADATA_LENGTH: AT_METADATA_LENGTH,
  DATA_LENGTH: AT_DATA_LENGTH,
} = RECORD_AT;

/** A batch header, decoded. */
export interface BatchHeader {
  count: number;
  term: number;
  firstPosition: number;
  timestamp: number;
  /** The batch's Raft entry index. */
  entryIndex: number;
  /** Events (0) unless said otherwise. */
  kind?: BatchKind;
}

/** One record, decoded. `data` and `metadata` are views into the read buffer. */
export interface LogRecord {
  flags: number;
  term: number;
  position: number;
  index: number;
  timestamp: number;
  id: string;
  stream: string;
  type: string;
  metadata: Buffer | undefined;
  data: Buffer;
}

export function batchSize(recordBytes: number): number {
  return BATCH_OVERHEAD_BYTES + recordBytes;
}

export function recordSize(
  streamBytes: number,
  typeBytes: number,
  metadataBytes: number,
  dataBytes: number,
  claimsBytes = 0,
): number {
  return RECORD_OVERHEAD_BYTES + streamBytes + typeBytes + metadataBytes + dataBytes + claimsBytes;
}

/** Writes the batch header at `offset` (the records must follow); returns where records start. */
export function encodeBatchHeader(view: DataView, offset: number, header: BatchHeader): number {
  const body = offset + BATCH_PREFIX_BYTES;
  view.setUint8(body + AT_BATCH_KIND, header.kind ?? BATCH_KIND_EVENTS);
  view.setUint8(body + 1, 0);
  view.setUint16(body + 2, 0, true);
  view.setUint32(body + AT_BATCH_COUNT, header.count, true);
  setU64(view, body + AT_BATCH_TERM, header.term);
  setU64(view, body + AT_BATCH_FIRST_POSITION, header.firstPosition);
  setU64(view, body + AT_BATCH_TIMESTAMP, header.timestamp);
  setU64(view, body + AT_BATCH_ENTRY_INDEX, header.entryIndex);
  return body + BATCH_HEADER_BYTES;
}

/** Seals a batch whose header and records span `offset..end`: length and checksum. */
export function sealBatch(target: Buffer, view: DataView, offset: number, end: number): void {
  view.setUint32(offset, end - offset - BATCH_PREFIX_BYTES, true);
  view.setUint32(offset + 4, batchChecksum(target, offset, end), true);
}

/**
 * The checksum of the batch at `offset..end` (format version 3): it covers the 4 length bytes
 * and the body, so a damaged length is caught like damaged data instead of passing for a torn
 * write.
 */
export function batchChecksum(bytes: Buffer, offset: number, end: number): number {
  const lengthCrc = crc32c(bytes.subarray(offset, offset + 4));
  return crc32c(bytes.subarray(offset + BATCH_PREFIX_BYTES, end), lengthCrc);
}

/** The checksum of format version 2, over the body only (read once, to upgrade a segment). */
export function bodyOnlyChecksum(bytes: Buffer, offset: number, end: number): number {
  return crc32c(bytes.subarray(offset + BATCH_PREFIX_BYTES, end));
}

export type BatchChecksum = (bytes: Buffer, offset: number, end: number) => number;

/**
 * The fields of one record. Stream and type come already UTF-8 encoded (a batch encodes each
 * once). The id is a UUID string, or `undefined` for a generated id: then its 16 bytes are taken
 * from `randomIds` at `randomOffset` (random bytes; version and variant bits are set here).
 */
export interface RecordFields {
  flags: number;
  index: number;
  id: string | undefined;
  /** The id's 16 bytes, when given as bytes (used when `id` is undefined). */
  idBytes: Uint8Array | undefined;
  randomIds: Uint8Array | undefined;
  randomOffset: number;
  stream: Uint8Array;
  type: Uint8Array;
  metadata: Uint8Array | undefined;
  data: Uint8Array;
  /** Encoded claim changes (types/claims.ts), at most 65535 bytes. */
  claims?: Uint8Array | undefined;
}

/** Encodes one record at `offset`; returns the offset after it. `view` is a DataView over `target`. */
export function encodeRecord(fields: RecordFields, target: Buffer, view: DataView, offset: number): number {
  const metadataLength = fields.metadata === undefined ? 0 : fields.metadata.byteLength;
  const dataLength = fields.data.byteLength;
  const streamLength = fields.stream.byteLength;
  const typeLength = fields.type.byteLength;
  const claimsLength = fields.claims === undefined ? 0 : fields.claims.byteLength;
  const end = offset + RECORD_OVERHEAD_BYTES + streamLength + typeLength + metadataLength + dataLength + claimsLength;
  view.setUint32(offset, end - offset - RECORD_LENGTH_BYTES, true);
  target[offset + AT_FLAGS] = fields.flags;
  target[offset + AT_FLAGS + 1] = 0;
  view.setUint16(offset + AT_STREAM_LENGTH, streamLength, true);
  view.setUint16(offset + AT_TYPE_LENGTH, typeLength, true);
  view.setUint16(offset + AT_CLAIMS_LENGTH, claimsLength, true);
  setU64(view, offset + AT_INDEX, fields.index);
  if (fields.id !== undefined) {
    writeUuid(fields.id, target, offset + AT_ID);
  } else if (fields.idBytes !== undefined) {
    const source = fields.idBytes;
    const to = offset + AT_ID;
    for (let i = 0; i < 16; i++) target[to + i] = source[i]!;
  } else {
    const source = fields.randomIds!;
    const from = fields.randomOffset;
    const to = offset + AT_ID;
    for (let i = 0; i < 16; i++) target[to + i] = source[from + i]!;
    target[to + 6] = (target[to + 6]! & 0x0f) | 0x40; // version 4
    target[to + 8] = (target[to + 8]! & 0x3f) | 0x80; // RFC 4122 variant
  }
  view.setUint32(offset + AT_METADATA_LENGTH, metadataLength, true);
  view.setUint32(offset + AT_DATA_LENGTH, dataLength, true);
  let at = offset + RECORD_OVERHEAD_BYTES;
  at = copyBytes(fields.stream, target, at);
  at = copyBytes(fields.type, target, at);
  if (fields.metadata !== undefined) at = copyBytes(fields.metadata, target, at);
  at = copyBytes(fields.data, target, at);
  if (fields.claims !== undefined) copyBytes(fields.claims, target, at);
  return end;
}

/** Short byte strings are copied in JS: cheaper than a native call for a handful of bytes. */
function copyBytes(source: Uint8Array, target: Buffer, at: number): number {
  const length = source.byteLength;
  if (length <= 32) {
    for (let i = 0; i < length; i++) target[at + i] = source[i]!;
  } else {
    target.set(source, at);
  }
  return at + length;
}

/** Outcome of looking at the bytes at an offset. */
export type BatchCheck =
  | { kind: 'batch'; end: number }
  /** Fewer bytes than the batch claims: a torn write if this is the end of the file. */
  | { kind: 'incomplete' }
  /** A complete batch whose checksum or lengths do not match. */
  | { kind: 'corrupt'; end: number; reason: string };

/**
 * Checks the batch that starts at `offset` of `bytes[0, length)`: its checksum, and that its
 * records fill it exactly with consistent lengths (so decoding can trust them).
 */
export function checkBatch(
  bytes: Buffer,
  offset: number,
  length: number,
  checksum: BatchChecksum = batchChecksum,
): BatchCheck {
  if (length - offset < BATCH_PREFIX_BYTES) return { kind: 'incomplete' };
  const bodyLength = bytes.readUInt32LE(offset);
  if (bodyLength < BATCH_HEADER_BYTES || bodyLength > MAX_BATCH_BODY_BYTES) {
    return {
      kind: 'corrupt',
      end: length,
      reason: `batch length ${bodyLength} outside [${BATCH_HEADER_BYTES}, ${MAX_BATCH_BODY_BYTES}]`,
    };
  }
  const body = offset + BATCH_PREFIX_BYTES;
  const end = body + bodyLength;
  if (end > length) return { kind: 'incomplete' };
  const stored = bytes.readUInt32LE(offset + 4);
  const actual = checksum(bytes, offset, end);
  if (stored !== actual)
    return { kind: 'corrupt', end, reason: `crc32c mismatch (stored ${hex(stored)}, computed ${hex(actual)})` };
  const kind = bytes[body + AT_BATCH_KIND];
  const count = bytes.readUInt32LE(body + AT_BATCH_COUNT);
  if (readU64(bytes, body + AT_BATCH_ENTRY_INDEX) < 1) return { kind: 'corrupt', end, reason: 'entry index 0' };
  if (kind === BATCH_KIND_NOOP || kind === BATCH_KIND_CONFIG) {
    if (count !== 0)
      return { kind: 'corrupt', end, reason: `a batch of kind ${kind} holds ${count} records, expected 0` };
    if (kind === BATCH_KIND_NOOP && bodyLength !== BATCH_HEADER_BYTES)
      return { kind: 'corrupt', end, reason: `a no-op batch of ${bodyLength} bytes` };
    return { kind: 'batch', end };
  }
  if (kind !== BATCH_KIND_EVENTS) return { kind: 'corrupt', end, reason: `unknown batch kind ${kind}` };
  if (count === 0) return { kind: 'corrupt', end, reason: 'an event batch with no records' };
  let at = body + BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (at + RECORD_OVERHEAD_BYTES > end)
      return { kind: 'corrupt', end, reason: `record ${i} of ${count} runs past the batch` };
    const recordEnd = at + RECORD_LENGTH_BYTES + bytes.readUInt32LE(at);
    const fieldsEnd =
      at +
      RECORD_OVERHEAD_BYTES +
      bytes.readUInt16LE(at + AT_STREAM_LENGTH) +
      bytes.readUInt16LE(at + AT_TYPE_LENGTH) +
      bytes.readUInt32LE(at + AT_METADATA_LENGTH) +
      bytes.readUInt32LE(at + AT_DATA_LENGTH) +
      bytes.readUInt16LE(at + AT_CLAIMS_LENGTH);
    if (recordEnd !== fieldsEnd || recordEnd > end)
      return { kind: 'corrupt', end, reason: `record ${i} of ${count} has inconsistent lengths` };
    at = recordEnd;
  }
  if (at !== end)
    return { kind: 'corrupt', end, reason: `${count} records leave ${end - at} bytes of the batch unused` };
  return { kind: 'batch', end };
}

export function readBatchHeader(bytes: Buffer, offset: number): BatchHeader {
  const body = offset + BATCH_PREFIX_BYTES;
  return {
    count: bytes.readUInt32LE(body + AT_BATCH_COUNT),
    term: readU64(bytes, body + AT_BATCH_TERM),
    firstPosition: readU64(bytes, body + AT_BATCH_FIRST_POSITION),
    timestamp: readU64(bytes, body + AT_BATCH_TIMESTAMP),
    entryIndex: readU64(bytes, body + AT_BATCH_ENTRY_INDEX),
    kind: bytes[body + AT_BATCH_KIND] as BatchKind,
  };
}

export function batchEntryIndex(bytes: Buffer, offset: number): number {
  return readU64(bytes, offset + BATCH_PREFIX_BYTES + AT_BATCH_ENTRY_INDEX);
}

/**
 * A whole entry without events (a no-op or a config change with its payload), sealed:
 * length, checksum, header.
 */
export function encodeControlBatch(
  kind: typeof BATCH_KIND_NOOP | typeof BATCH_KIND_CONFIG,
  header: { term: number; entryIndex: number; nextPosition: number; timestamp: number },
  payload: Uint8Array,
): Buffer {
  const bytes = Buffer.alloc(BATCH_OVERHEAD_BYTES + payload.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = encodeBatchHeader(view, 0, {
    kind,
    count: 0,
    term: header.term,
    firstPosition: header.nextPosition,
    timestamp: header.timestamp,
    entryIndex: header.entryIndex,
  });
  bytes.set(payload, at);
  sealBatch(bytes, view, 0, bytes.length);
  return bytes;
}

export function batchFirstPosition(bytes: Buffer, offset: number): number {
  return readU64(bytes, offset + BATCH_PREFIX_BYTES + AT_BATCH_FIRST_POSITION);
}

export function batchCount(bytes: Buffer, offset: number): number {
  return bytes.readUInt32LE(offset + BATCH_PREFIX_BYTES + AT_BATCH_COUNT);
}

export function batchTerm(bytes: Buffer, offset: number): number {
  return readU64(bytes, offset + BATCH_PREFIX_BYTES + AT_BATCH_TERM);
}

/** Offset of the first record of the batch at `offset`. */
export function firstRecordOffset(offset: number): number {
  return offset + BATCH_OVERHEAD_BYTES;
}

/** Offset after the record at `offset`. */
export function nextRecordOffset(bytes: Buffer, offset: number): number {
  return offset + RECORD_LENGTH_BYTES + bytes.readUInt32LE(offset);
}

/** Turns the record at `offset` (position and batch header given) into a `T`. */
export type RecordDecoder<T> = (bytes: Buffer, offset: number, position: number, batch: BatchHeader) => T;

export const decodeRecord: RecordDecoder<LogRecord> = (bytes, offset, position, batch) => {
  const streamLength = bytes.readUInt16LE(offset + AT_STREAM_LENGTH);
  const typeLength = bytes.readUInt16LE(offset + AT_TYPE_LENGTH);
  const metadataLength = bytes.readUInt32LE(offset + AT_METADATA_LENGTH);
  const dataLength = bytes.readUInt32LE(offset + AT_DATA_LENGTH);
  let at = offset + RECORD_OVERHEAD_BYTES;
  const stream = bytes.toString('utf8', at, at + streamLength);
  at += streamLength;
  const type = bytes.toString('utf8', at, at + typeLength);
  at += typeLength;
  const metadata = metadataLength > 0 ? bytes.subarray(at, at + metadataLength) : undefined;
  at += metadataLength;
  return {
    flags: bytes[offset + AT_FLAGS]!,
    term: batch.term,
    position,
    index: readU64(bytes, offset + AT_INDEX),
    timestamp: batch.timestamp,
    id: readUuid(bytes, offset + AT_ID),
    stream,
    type,
    metadata,
    data: bytes.subarray(at, at + dataLength),
  };
};

/** Field accessors for decoders that want only some of a record. */
export const recordLayout = {
  flags: (bytes: Buffer, offset: number) => bytes[offset + AT_FLAGS]!,
  index: (bytes: Buffer, offset: number) => readU64(bytes, offset + AT_INDEX),
  idOffset: (offset: number) => offset + AT_ID,
  streamLength: (bytes: Buffer, offset: number) => bytes.readUInt16LE(offset + AT_STREAM_LENGTH),
  typeLength: (bytes: Buffer, offset: number) => bytes.readUInt16LE(offset + AT_TYPE_LENGTH),
  metadataLength: (bytes: Buffer, offset: number) => bytes.readUInt32LE(offset + AT_METADATA_LENGTH),
  dataLength: (bytes: Buffer, offset: number) => bytes.readUInt32LE(offset + AT_DATA_LENGTH),
  claimsLength: (bytes: Buffer, offset: number) => bytes.readUInt16LE(offset + AT_CLAIMS_LENGTH),
  fieldsOffset: (offset: number) => offset + RECORD_OVERHEAD_BYTES,
};

export function readU64(source: Buffer, offset: number): number {
  return u64FromHalves(source.readUInt32LE(offset), source.readUInt32LE(offset + 4));
}

/** For the few writers that hold a Buffer but no DataView (index and segment headers). */
export function writeU64(target: Buffer, offset: number, value: number): void {
  target.writeUInt32LE(u64Low(value), offset);
  target.writeUInt32LE(u64High(value), offset + 4);
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
