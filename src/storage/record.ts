import { crc32c } from './crc.js';
import { readUuid, writeUuid } from '../types/uuid.js';

/**
 * The record format (docs/format.md). Every record is
 *   u32 bodyLength | u32 crc32c(body) | body
 * and the body starts with a fixed 64-byte header followed by stream, type, metadata and data.
 * All integers little-endian; 64-bit values are written as two u32 halves (positions stay below
 * 2^53, so JS numbers hold them exactly and no BigInt is needed on the hot path).
 */
export const RECORD_PREFIX_BYTES = 8;
export const RECORD_HEADER_BYTES = 64;
export const RECORD_OVERHEAD_BYTES = RECORD_PREFIX_BYTES + RECORD_HEADER_BYTES;
/** Bodies larger than this are treated as garbage by recovery (max event 1 MiB by default; 64 MiB hard cap). */
export const MAX_RECORD_BODY_BYTES = 64 * 1024 * 1024;

/** The last record of an atomic batch (an append or a Raft entry). Recovery drops a partial batch. */
export const FLAG_END_OF_BATCH = 1;
/** `data` holds UTF-8 JSON. */
export const FLAG_DATA_JSON = 2;
/** The log generated the id (the writer gave none): it cannot be retried, so it is not remembered for idempotency. */
export const FLAG_GENERATED_ID = 4;

const TWO_POW_32 = 2 ** 32;

// Body offsets.
const AT_FLAGS = 0;
const AT_KIND = 1;
const AT_STREAM_LENGTH = 2;
const AT_TYPE_LENGTH = 4;
const AT_TERM = 8;
const AT_POSITION = 16;
const AT_INDEX = 24;
const AT_TIMESTAMP = 32;
const AT_ID = 40;
const AT_METADATA_LENGTH = 56;
const AT_DATA_LENGTH = 60;

export const RECORD_KIND_EVENT = 0;

/** What a record holds, decoded. `data` and `metadata` are views into the read buffer. */
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

/** The fields an encoder needs; stream and type are given with their UTF-8 byte lengths. */
export interface RecordFields {
  flags: number;
  term: number;
  position: number;
  index: number;
  timestamp: number;
  id: string;
  stream: string;
  streamBytes: number;
  type: string;
  typeBytes: number;
  metadata: Uint8Array | undefined;
  data: Uint8Array;
}

export function recordSize(fields: Pick<RecordFields, 'streamBytes' | 'typeBytes' | 'metadata' | 'data'>): number {
  return RECORD_OVERHEAD_BYTES + fields.streamBytes + fields.typeBytes + (fields.metadata?.byteLength ?? 0) + fields.data.byteLength;
}

/** Encodes one record at `offset`; returns the offset after it. The buffer must have room. */
export function encodeRecord(fields: RecordFields, target: Buffer, offset: number): number {
  const body = offset + RECORD_PREFIX_BYTES;
  const metadataLength = fields.metadata?.byteLength ?? 0;
  const dataLength = fields.data.byteLength;
  target[body + AT_FLAGS] = fields.flags;
  target[body + AT_KIND] = RECORD_KIND_EVENT;
  target.writeUInt16LE(fields.streamBytes, body + AT_STREAM_LENGTH);
  target.writeUInt16LE(fields.typeBytes, body + AT_TYPE_LENGTH);
  target.writeUInt16LE(0, body + 6);
  writeU64(target, body + AT_TERM, fields.term);
  writeU64(target, body + AT_POSITION, fields.position);
  writeU64(target, body + AT_INDEX, fields.index);
  writeU64(target, body + AT_TIMESTAMP, fields.timestamp);
  writeUuid(fields.id, target, body + AT_ID);
  target.writeUInt32LE(metadataLength, body + AT_METADATA_LENGTH);
  target.writeUInt32LE(dataLength, body + AT_DATA_LENGTH);
  let at = body + RECORD_HEADER_BYTES;
  at += target.write(fields.stream, at, fields.streamBytes, 'utf8');
  at += target.write(fields.type, at, fields.typeBytes, 'utf8');
  if (fields.metadata) {
    target.set(fields.metadata, at);
    at += metadataLength;
  }
  target.set(fields.data, at);
  at += dataLength;
  const bodyLength = at - body;
  target.writeUInt32LE(bodyLength, offset);
  target.writeUInt32LE(crc32c(target.subarray(body, at)), offset + 4);
  return at;
}

/** Outcome of looking at the bytes at an offset. */
export type RecordCheck =
  | { kind: 'record'; end: number }
  /** Fewer bytes than the record claims: a torn write if this is the end of the file. */
  | { kind: 'incomplete' }
  /** A complete record whose checksum or lengths do not match. */
  | { kind: 'corrupt'; end: number; reason: string };

/** Checks the record that starts at `offset` of `bytes[0, length)` without decoding it. */
export function checkRecord(bytes: Buffer, offset: number, length: number): RecordCheck {
  if (length - offset < RECORD_PREFIX_BYTES) return { kind: 'incomplete' };
  const bodyLength = bytes.readUInt32LE(offset);
  if (bodyLength < RECORD_HEADER_BYTES || bodyLength > MAX_RECORD_BODY_BYTES) {
    return { kind: 'corrupt', end: length, reason: `record length ${bodyLength} outside [${RECORD_HEADER_BYTES}, ${MAX_RECORD_BODY_BYTES}]` };
  }
  const end = offset + RECORD_PREFIX_BYTES + bodyLength;
  if (end > length) return { kind: 'incomplete' };
  const body = offset + RECORD_PREFIX_BYTES;
  const expected = bytes.readUInt32LE(offset + 4);
  const actual = crc32c(bytes.subarray(body, end));
  if (expected !== actual) {
    return { kind: 'corrupt', end, reason: `crc32c mismatch (stored ${hex(expected)}, computed ${hex(actual)})` };
  }
  const fieldsLength =
    RECORD_HEADER_BYTES +
    bytes.readUInt16LE(body + AT_STREAM_LENGTH) +
    bytes.readUInt16LE(body + AT_TYPE_LENGTH) +
    bytes.readUInt32LE(body + AT_METADATA_LENGTH) +
    bytes.readUInt32LE(body + AT_DATA_LENGTH);
  if (fieldsLength !== bodyLength) {
    return { kind: 'corrupt', end, reason: `field lengths add up to ${fieldsLength}, body is ${bodyLength}` };
  }
  return { kind: 'record', end };
}

/** Decodes a record already checked by `checkRecord`. */
export function decodeRecord(bytes: Buffer, offset: number): LogRecord {
  const body = offset + RECORD_PREFIX_BYTES;
  const streamLength = bytes.readUInt16LE(body + AT_STREAM_LENGTH);
  const typeLength = bytes.readUInt16LE(body + AT_TYPE_LENGTH);
  const metadataLength = bytes.readUInt32LE(body + AT_METADATA_LENGTH);
  const dataLength = bytes.readUInt32LE(body + AT_DATA_LENGTH);
  let at = body + RECORD_HEADER_BYTES;
  const stream = bytes.toString('utf8', at, at + streamLength);
  at += streamLength;
  const type = bytes.toString('utf8', at, at + typeLength);
  at += typeLength;
  const metadata = metadataLength > 0 ? bytes.subarray(at, at + metadataLength) : undefined;
  at += metadataLength;
  return {
    flags: bytes[body + AT_FLAGS]!,
    term: readU64(bytes, body + AT_TERM),
    position: readU64(bytes, body + AT_POSITION),
    index: readU64(bytes, body + AT_INDEX),
    timestamp: readU64(bytes, body + AT_TIMESTAMP),
    id: readUuid(bytes, body + AT_ID),
    stream,
    type,
    metadata,
    data: bytes.subarray(at, at + dataLength),
  };
}

/** The fields recovery and the engine's replay need, without copying data. */
export function recordPosition(bytes: Buffer, offset: number): number {
  return readU64(bytes, offset + RECORD_PREFIX_BYTES + AT_POSITION);
}

export function recordFlags(bytes: Buffer, offset: number): number {
  return bytes[offset + RECORD_PREFIX_BYTES + AT_FLAGS]!;
}

export function recordTerm(bytes: Buffer, offset: number): number {
  return readU64(bytes, offset + RECORD_PREFIX_BYTES + AT_TERM);
}

export function writeU64(target: Buffer, offset: number, value: number): void {
  target.writeUInt32LE(value >>> 0, offset);
  target.writeUInt32LE(Math.floor(value / TWO_POW_32), offset + 4);
}

export function readU64(source: Buffer, offset: number): number {
  return source.readUInt32LE(offset) + source.readUInt32LE(offset + 4) * TWO_POW_32;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
