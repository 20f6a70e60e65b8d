import { EventTooLargeError, InvalidEventError, ProtocolError } from '../types/errors.js';
import { RECORD_AT } from '../types/record-layout.js';
import type { Event, Json, TransientEvent } from '../types/event.js';
import type { RandomIds } from '../types/random-ids.js';
import { getU64, setU64 } from '../types/u64.js';
import { readUuid, writeUuid } from '../types/uuid.js';
import { MAX_TYPE_BYTES, encodeUtf8Cached, type PreparedEvent } from '../types/validate.js';
import { decodeUtf8, type ByteReader, type ByteWriter } from './bytes.js';
import { RECORD_DATA_JSON, RECORD_ID_GENERATED } from './constants.js';

/**
 * Events on the wire use the log's own record layout (docs/format.md), so a reader could ship
 * records from a segment without re-encoding them:
 *
 *   record = u32 length | u8 flags | u8 0 | u16 S | u16 T | u16 C | u64 index | 16-byte id
 *            | u32 M | u32 D | stream (S) | type (T) | metadata (M, UTF-8 JSON) | data (D)
 *            | claim changes (C bytes; readers skip them)
 *   run    = u32 bodyLength | u8 kind (0) | 3 × u8 0 | u32 count | u64 term | u64 firstPosition
 *            | u64 timestamp | record × count        (record i has position firstPosition + i)
 *
 * In appends the stream is in the request, so records carry S = 0 and index 0.
 */
export const RECORD_HEADER_BYTES = 44;
export const RUN_HEADER_BYTES = 32;

const {
  CLAIMS_LENGTH: AT_CLAIMS_LENGTH,
  FLAGS: AT_FLAGS,
  STREAM_LENGTH: AT_STREAM_LENGTH,
  TYPE_LENGTH: AT_TYPE_LENGTH,
  INDEX: AT_INDEX,
  ID: AT_ID,
  METADATA_LENGTH: AT_METADATA_LENGTH,
  DATA_LENGTH: AT_DATA_LENGTH,
} = RECORD_AT;
const textEncoder = new TextEncoder();

/**
 * Writes the records of an append (client side). An event without an id gets a random one
 * here, in the request bytes: a retry re-sends the same bytes, so it is recognized as a retry.
 */
export function writeAppendRecords(writer: ByteWriter, events: readonly PreparedEvent[], ids: RandomIds): void {
  writer.u32(events.length);
  for (const event of events) {
    const metadataLength = event.metadataBytes?.byteLength ?? 0;
    const size = RECORD_HEADER_BYTES + event.typeBytes.byteLength + metadataLength + event.data.byteLength;
    writer.ensure(size);
    const at = writer.offset;
    const view = writer.view;
    const bytes = writer.bytes;
    view.setUint32(at, size - 4, true);
    view.setUint8(
      at + AT_FLAGS,
      (event.contentType === 'json' ? RECORD_DATA_JSON : 0) | (event.id === undefined ? RECORD_ID_GENERATED : 0),
    );
    view.setUint8(at + 5, 0);
    view.setUint16(at + AT_STREAM_LENGTH, 0, true);
    view.setUint16(at + AT_TYPE_LENGTH, event.typeBytes.byteLength, true);
    view.setUint16(at + 10, 0, true);
    view.setUint32(at + AT_INDEX, 0, true);
    view.setUint32(at + AT_INDEX + 4, 0, true);
    if (event.id !== undefined) writeUuid(event.id, bytes, at + AT_ID);
    else ids.write(bytes, at + AT_ID);
    view.setUint32(at + AT_METADATA_LENGTH, metadataLength, true);
    view.setUint32(at + AT_DATA_LENGTH, event.data.byteLength, true);
    let field = copySmall(event.typeBytes, bytes, at + RECORD_HEADER_BYTES);
    if (event.metadataBytes) {
      bytes.set(event.metadataBytes, field);
      field += metadataLength;
    }
    bytes.set(event.data, field);
    writer.offset = field + event.data.byteLength;
  }
}

/**
 * Reads and checks the records of an append (server side). The client is not trusted: every
 * check the embedded log makes on an `EventInput` is made here on the bytes. `data` and the
 * type bytes stay views of the frame (never re-encoded); metadata is parsed once to check it is
 * a JSON object, and its bytes are stored as they came.
 */
export function readAppendRecords(reader: ByteReader, maxEventBytes: number, maxEvents: number): PreparedEvent[] {
  const count = reader.u32('event count');
  if (count === 0) throw new InvalidEventError('', [], 'at least one event per append');
  if (count > maxEvents)
    throw new ProtocolError(`append of ${count} events exceeds the ${maxEvents} events a frame can hold`);
  const events = new Array<PreparedEvent>(count);
  let seen: Set<string> | undefined;
  for (let i = 0; i < count; i++) {
    reader.need(RECORD_HEADER_BYTES, 'record header');
    const at = reader.offset;
    const view = reader.view;
    const length = view.getUint32(at, true);
    const flags = view.getUint8(at + AT_FLAGS);
    const streamLength = view.getUint16(at + AT_STREAM_LENGTH, true);
    const typeLength = view.getUint16(at + AT_TYPE_LENGTH, true);
    const metadataLength = view.getUint32(at + AT_METADATA_LENGTH, true);
    const dataLength = view.getUint32(at + AT_DATA_LENGTH, true);
    const size = typeLength + metadataLength + dataLength;
    checkRecordHeader(i, length, flags, streamLength, size);
    reader.need(4 + length, `record ${i}`);
    if (size > maxEventBytes) throw new EventTooLargeError(size, maxEventBytes);
    if (typeLength === 0) throw new InvalidEventError('type', '', 'a non-empty string');
    let field = at + RECORD_HEADER_BYTES;
    const type = decodeUtf8(reader.bytes, field, typeLength, `record ${i} type`);
    if (typeLength > MAX_TYPE_BYTES) throw new InvalidEventError('type', type, `at most ${MAX_TYPE_BYTES} bytes`);
    // Types recur: one cached encoding per type instead of a view per event.
    const typeBytes = encodeUtf8Cached(type);
    field += typeLength;
    let metadata: Record<string, Json> | undefined;
    let metadataBytes: Uint8Array | undefined;
    if (metadataLength > 0) {
      metadataBytes = reader.bytes.subarray(field, field + metadataLength);
      metadata = parseMetadata(metadataBytes);
      field += metadataLength;
    }
    // A client-made id is the retry key of its append if it comes first; the others need no
    // memory (and no per-event id-window work, which would cap batched appends), and not even
    // a string: their bytes go into the stored record as they are.
    const clientMade = (flags & RECORD_ID_GENERATED) !== 0;
    const idGenerated = clientMade && i > 0;
    const id = idGenerated ? undefined : readUuid(reader.bytes, at + AT_ID);
    if (count > 1 && id !== undefined && !clientMade) {
      seen ??= new Set();
      if (seen.has(id)) throw new InvalidEventError('id', id, 'ids unique within one append');
      seen.add(id);
    }
    events[i] = {
      id,
      idGenerated,
      idBytes: id === undefined ? reader.bytes.subarray(at + AT_ID, at + AT_ID + 16) : undefined,
      retryKey: clientMade && i === 0,
      type,
      typeBytes,
      data: reader.bytes.subarray(field, field + dataLength),
      contentType: (flags & RECORD_DATA_JSON) !== 0 ? 'json' : 'binary',
      metadata,
      metadataBytes,
    };
    reader.offset = field + dataLength;
  }
  return events;
}

/**
 * Throws `ProtocolError` where an append record's header breaks the format. Takes the fields
 * as numbers, not a header object: this runs once per record on the server's hot path.
 */
function checkRecordHeader(i: number, length: number, flags: number, streamLength: number, size: number): void {
  if ((flags & ~(RECORD_DATA_JSON | RECORD_ID_GENERATED)) !== 0)
    throw new ProtocolError(`record ${i}: unknown flags ${flags}`);
  if (streamLength !== 0)
    throw new ProtocolError(`record ${i}: an append's records carry no stream name (S must be 0, got ${streamLength})`);
  const fieldsLength = RECORD_HEADER_BYTES - 4 + size;
  if (length !== fieldsLength)
    throw new ProtocolError(`record ${i}: length ${length} does not match its fields (${fieldsLength})`);
}

/** Short byte strings are copied in JS: cheaper than a native call for a handful of bytes. */
function copySmall(source: Uint8Array, target: Uint8Array, at: number): number {
  const length = source.byteLength;
  if (length <= 32) for (let i = 0; i < length; i++) target[at + i] = source[i]!;
  else target.set(source, at);
  return at + length;
}

function parseMetadata(bytes: Uint8Array): Record<string, Json> {
  let value: unknown;
  try {
    value = JSON.parse(decodeUtf8(bytes, 0, bytes.byteLength, 'metadata'));
  } catch {
    throw new InvalidEventError('metadata', `<${bytes.byteLength} bytes>`, 'a UTF-8 JSON object');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidEventError('metadata', value, 'a plain object of JSON values');
  }
  return value as Record<string, Json>;
}

/**
 * Writes committed events as runs (server side): consecutive positions with one timestamp share
 * a run header, so a batch of the log costs 36 bytes of framing on the wire, as on disk.
 */
export function writeEventRuns(writer: ByteWriter, events: readonly Event[]): void {
  let i = 0;
  while (i < events.length) {
    const first = events[i]!;
    let end = i + 1;
    while (
      end < events.length &&
      events[end]!.position === first.position + (end - i) &&
      events[end]!.timestamp === first.timestamp
    )
      end++;
    writer.ensure(4 + RUN_HEADER_BYTES);
    const start = writer.offset;
    const view = writer.view;
    view.setUint32(start + 4, 0, true); // kind 0 + reserved
    view.setUint32(start + 8, end - i, true);
    setU64(view, start + 12, 0); // term: not sent to clients yet
    setU64(view, start + 20, first.position);
    setU64(view, start + 28, first.timestamp);
    writer.offset = start + 4 + RUN_HEADER_BYTES;
    for (let k = i; k < end; k++) writeRecord(writer, events[k]!);
    writer.setU32(start, writer.offset - start - 4); // the records may have grown (replaced) the buffer
    i = end;
  }
}

/** Records already in the log's layout, grouped in runs (a server reading its segments). */
export interface StoredRuns {
  runs: ReadonlyArray<{ firstPosition: number; count: number; timestamp: number; start: number; end: number }>;
  bytes: Uint8Array;
}

/** Writes stored records as runs: one header per run, the records copied as they are. */
export function writeStoredRuns(writer: ByteWriter, stored: StoredRuns): void {
  for (const run of stored.runs) {
    const length = run.end - run.start;
    writer.ensure(4 + RUN_HEADER_BYTES + length);
    const start = writer.offset;
    const view = writer.view;
    view.setUint32(start, RUN_HEADER_BYTES + length, true);
    view.setUint32(start + 4, 0, true);
    view.setUint32(start + 8, run.count, true);
    setU64(view, start + 12, 0);
    setU64(view, start + 20, run.firstPosition);
    setU64(view, start + 28, run.timestamp);
    writer.bytes.set(stored.bytes.subarray(run.start, run.end), start + 4 + RUN_HEADER_BYTES);
    writer.offset = start + 4 + RUN_HEADER_BYTES + length;
  }
}

/** Writes one event as a record with its stream (reads, subscriptions, transient events). */
function writeRecord(writer: ByteWriter, event: Event | TransientEvent): void {
  const streamBytes = encodeUtf8Cached(event.stream);
  const typeBytes = encodeUtf8Cached(event.type);
  const metadataBytes =
    'metadata' in event && event.metadata !== undefined
      ? textEncoder.encode(JSON.stringify(event.metadata))
      : undefined;
  const metadataLength = metadataBytes?.byteLength ?? 0;
  const size =
    RECORD_HEADER_BYTES + streamBytes.byteLength + typeBytes.byteLength + metadataLength + event.data.byteLength;
  writer.ensure(size);
  const at = writer.offset;
  const view = writer.view;
  const bytes = writer.bytes;
  view.setUint32(at, size - 4, true);
  view.setUint8(at + AT_FLAGS, event.contentType === 'json' ? RECORD_DATA_JSON : 0);
  view.setUint8(at + 5, 0);
  view.setUint16(at + AT_STREAM_LENGTH, streamBytes.byteLength, true);
  view.setUint16(at + AT_TYPE_LENGTH, typeBytes.byteLength, true);
  view.setUint16(at + 10, 0, true);
  setU64(view, at + AT_INDEX, 'index' in event ? event.index : 0);
  writeUuid(event.id, bytes, at + AT_ID);
  view.setUint32(at + AT_METADATA_LENGTH, metadataLength, true);
  view.setUint32(at + AT_DATA_LENGTH, event.data.byteLength, true);
  let field = at + RECORD_HEADER_BYTES;
  bytes.set(streamBytes, field);
  field += streamBytes.byteLength;
  bytes.set(typeBytes, field);
  field += typeBytes.byteLength;
  if (metadataBytes) {
    bytes.set(metadataBytes, field);
    field += metadataLength;
  }
  bytes.set(event.data, field);
  writer.offset = field + event.data.byteLength;
}

/** Reads the runs of an EVENTS payload into events (client side). `data` views the frame. */
export function readEventRuns(reader: ByteReader, into: Event[]): void {
  while (reader.remaining > 0) {
    const bodyLength = reader.u32('run length');
    reader.need(bodyLength, 'run');
    const end = reader.offset + bodyLength;
    const view = reader.view;
    if (view.getUint8(reader.offset) !== 0)
      throw new ProtocolError(`run of unknown kind ${view.getUint8(reader.offset)}`);
    const count = view.getUint32(reader.offset + 4, true);
    reader.offset += 16; // kind and reserved, count, term
    const firstPosition = reader.u64('run first position');
    const timestamp = reader.u64('run timestamp');
    for (let i = 0; i < count; i++) {
      into.push(readRecord(reader, firstPosition + i, timestamp, end) as Event);
    }
    if (reader.offset !== end)
      throw new ProtocolError(`run at position ${firstPosition}: records do not fill its ${bodyLength} bytes`);
  }
}

function readRecord(reader: ByteReader, position: number, timestamp: number, end: number): Event {
  const at = reader.offset;
  if (at + RECORD_HEADER_BYTES > end) throw new ProtocolError(`record at position ${position} is truncated`);
  const view = reader.view;
  const bytes = reader.bytes;
  const length = view.getUint32(at, true);
  const streamLength = view.getUint16(at + AT_STREAM_LENGTH, true);
  const typeLength = view.getUint16(at + AT_TYPE_LENGTH, true);
  const metadataLength = view.getUint32(at + AT_METADATA_LENGTH, true);
  const dataLength = view.getUint32(at + AT_DATA_LENGTH, true);
  // Claim changes, stored after the data of an append's first record, are the log's business: skipped.
  const claimsLength = view.getUint16(at + AT_CLAIMS_LENGTH, true);
  if (
    at + 4 + length > end ||
    length !== RECORD_HEADER_BYTES - 4 + streamLength + typeLength + metadataLength + dataLength + claimsLength
  ) {
    throw new ProtocolError(`record at position ${position}: length ${length} does not match its fields`);
  }
  let field = at + RECORD_HEADER_BYTES;
  const stream = lastStream.decode(bytes, field, streamLength, 'stream');
  field += streamLength;
  const type = lastType.decode(bytes, field, typeLength, 'type');
  field += typeLength;
  let metadata: Record<string, Json> | undefined;
  if (metadataLength > 0) {
    metadata = JSON.parse(decodeUtf8(bytes, field, metadataLength, 'metadata')) as Record<string, Json>;
    field += metadataLength;
  }
  reader.offset = field + dataLength + claimsLength;
  return {
    id: readUuid(bytes, at + AT_ID),
    stream,
    type,
    data: bytes.subarray(field, field + dataLength),
    contentType: (view.getUint8(at + AT_FLAGS) & RECORD_DATA_JSON) !== 0 ? 'json' : 'binary',
    metadata,
    position,
    index: getU64(view, at + AT_INDEX),
    timestamp,
  };
}

/**
 * The last string decoded in one field and its bytes: consecutive events mostly share their
 * stream and type, and comparing a few bytes is cheaper than building a new string each time.
 */
class LastString {
  private bytes = new Uint8Array(256);
  private length = -1;
  private text = '';

  decode(source: Uint8Array, offset: number, length: number, what: string): string {
    if (length === this.length) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (source[offset + i] !== this.bytes[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.text;
    }
    const text = decodeUtf8(source, offset, length, what);
    if (length <= this.bytes.byteLength) {
      this.bytes.set(source.subarray(offset, offset + length));
      this.length = length;
      this.text = text;
    }
    return text;
  }
}

const lastStream = new LastString();
const lastType = new LastString();

/** TRANSIENT payload: u64 timestamp | record. */
export function writeTransient(writer: ByteWriter, event: TransientEvent): void {
  writer.u64(event.timestamp);
  writeRecord(writer, event);
}

export function readTransient(reader: ByteReader): TransientEvent {
  const timestamp = reader.u64('timestamp');
  const event = readRecord(reader, 0, timestamp, reader.end);
  return {
    transient: true,
    id: event.id,
    stream: event.stream,
    type: event.type,
    data: event.data,
    contentType: event.contentType,
    timestamp,
  };
}
