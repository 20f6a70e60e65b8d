import { RECORD_AT } from '../types/record-layout.js';
import {
  BATCH_HEADER_BYTES,
  BATCH_KIND_EVENTS,
  BATCH_PREFIX_BYTES,
  FLAG_GENERATED_ID,
  RECORD_LENGTH_BYTES,
  RECORD_OVERHEAD_BYTES,
  batchChecksum,
  readU64,
} from './record.js';

/**
 * A record whose event is gone: scavenging and erasure keep its place (the position, the stream
 * and index, the id and any claim changes, which is all the engine rebuilds its state from) and
 * drop its type, metadata and data. Readers never return one (the stream's gone floor hides it
 * first); replay counts it like the event it was.
 */
export const FLAG_HOLE = 4;

/** Whether the record at `offset` is a hole. */
export function isHole(bytes: Buffer, offset: number): boolean {
  return ((bytes[offset + RECORD_AT.FLAGS] ?? 0) & FLAG_HOLE) !== 0;
}

/** What decides, per record, whether its event is gone: its stream and index. */
export type GoneRule = (stream: string, index: number) => boolean;

/** A batch rewritten with holes, and what the rewrite removed. */
export interface HoledBatch {
  readonly bytes: Buffer;
  readonly holes: number;
}

/**
 * The batch at `bytes[at, end)` (checked) with every record `gone` names turned into a hole;
 * undefined when none is (the batch stays as it is). Positions, entry index and record count
 * are unchanged; the length and checksum are the new batch's.
 */
export function holeBatch(bytes: Buffer, at: number, end: number, gone: GoneRule): HoledBatch | undefined {
  const body = at + BATCH_PREFIX_BYTES;
  if (bytes[body] !== BATCH_KIND_EVENTS) return undefined;
  const count = bytes.readUInt32LE(body + 4);
  const marked = markGone(bytes, body + BATCH_HEADER_BYTES, count, gone);
  if (marked.length === 0) return undefined;
  const out = Buffer.allocUnsafe(end - at);
  bytes.copy(out, 0, at, body + BATCH_HEADER_BYTES);
  let from = body + BATCH_HEADER_BYTES;
  let to = BATCH_PREFIX_BYTES + BATCH_HEADER_BYTES;
  let next = 0;
  for (let i = 0; i < count; i++) {
    const length = RECORD_LENGTH_BYTES + bytes.readUInt32LE(from);
    if (marked[next] === i) {
      to = writeHole(bytes, from, out, to);
      next++;
    } else {
      to += bytes.copy(out, to, from, from + length);
    }
    from += length;
  }
  out.writeUInt32LE(to - BATCH_PREFIX_BYTES, 0);
  out.writeUInt32LE(batchChecksum(out, 0, to), 4);
  return { bytes: out.subarray(0, to), holes: marked.length };
}

/** Indexes (in the batch) of the records that `gone` names and are not holes yet. */
function markGone(bytes: Buffer, first: number, count: number, gone: GoneRule): number[] {
  const marked: number[] = [];
  let record = first;
  for (let i = 0; i < count; i++) {
    if (!isHole(bytes, record)) {
      const streamAt = record + RECORD_AT.FIELDS;
      const stream = bytes.toString('utf8', streamAt, streamAt + bytes.readUInt16LE(record + RECORD_AT.STREAM_LENGTH));
      if (gone(stream, readU64(bytes, record + RECORD_AT.INDEX))) marked.push(i);
    }
    record += RECORD_LENGTH_BYTES + bytes.readUInt32LE(record);
  }
  return marked;
}

/** Writes the hole of the record at `bytes[from]` at `out[to]`; returns the offset after it. */
function writeHole(bytes: Buffer, from: number, out: Buffer, to: number): number {
  const streamLength = bytes.readUInt16LE(from + RECORD_AT.STREAM_LENGTH);
  const typeLength = bytes.readUInt16LE(from + RECORD_AT.TYPE_LENGTH);
  const claimsLength = bytes.readUInt16LE(from + RECORD_AT.CLAIMS_LENGTH);
  const metadataLength = bytes.readUInt32LE(from + RECORD_AT.METADATA_LENGTH);
  const dataLength = bytes.readUInt32LE(from + RECORD_AT.DATA_LENGTH);
  bytes.copy(out, to, from, from + RECORD_OVERHEAD_BYTES);
  out.writeUInt32LE(RECORD_OVERHEAD_BYTES - RECORD_LENGTH_BYTES + streamLength + claimsLength, to);
  out[to + RECORD_AT.FLAGS] = (bytes[from + RECORD_AT.FLAGS]! & FLAG_GENERATED_ID) | FLAG_HOLE;
  out.writeUInt16LE(0, to + RECORD_AT.TYPE_LENGTH);
  out.writeUInt32LE(0, to + RECORD_AT.METADATA_LENGTH);
  out.writeUInt32LE(0, to + RECORD_AT.DATA_LENGTH);
  const fields = from + RECORD_OVERHEAD_BYTES;
  let at = to + RECORD_OVERHEAD_BYTES;
  at += bytes.copy(out, at, fields, fields + streamLength);
  const claimsAt = fields + streamLength + typeLength + metadataLength + dataLength;
  at += bytes.copy(out, at, claimsAt, claimsAt + claimsLength);
  return at;
}
