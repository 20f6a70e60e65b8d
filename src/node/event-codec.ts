import type { Event, Json } from '../types/event.js';
import { readUuid } from '../types/uuid.js';
import type { PreparedEvent } from '../types/validate.js';
import {
  FLAG_DATA_JSON,
  FLAG_GENERATED_ID,
  batchSize,
  encodeBatchHeader,
  encodeRecord,
  firstRecordOffset,
  nextRecordOffset,
  readBatchHeader,
  recordLayout,
  recordSize,
  sealBatch,
  type BatchHeader,
  type RecordDecoder,
  type RecordFields,
} from '../storage/record.js';
import type { PlannedAppend } from '../engine/decide.js';
import type { AppliedEvent, GoneFloors } from '../engine/state.js';
import type { LifecycleChange } from '../engine/lifecycle.js';
import { METADATA_STREAM_PREFIX, SCAVENGE_STREAM } from '../types/stream-metadata.js';
import { goneFloorsOf, lifecycleChangeOf } from './lifecycle-events.js';
import { decodeClaimChanges, type ClaimChanges } from '../types/claims.js';
import { StorageFailedError } from '../types/errors.js';
import type { RandomIds } from '../types/random-ids.js';
export { RandomIds } from '../types/random-ids.js';

/**
 * Batches are carved out of 1 MiB buffers instead of each getting its own allocation: a
 * single-event append then costs no ArrayBuffer, and consecutive batches are adjacent in
 * memory, so the storage hands them to writev as one range. A full buffer is simply left to
 * the batches still referencing it (garbage once they are written and published).
 */
export class WriteArena {
  private buffer: Buffer = Buffer.allocUnsafe(0);
  private view: DataView = new DataView(new ArrayBuffer(0));
  private used = 0;

  constructor(private readonly chunkBytes = 1024 * 1024) {}

  reserve(size: number): { bytes: Buffer; view: DataView; offset: number } {
    if (size > this.chunkBytes / 4) {
      const bytes = Buffer.allocUnsafe(size);
      return { bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
    }
    if (this.used + size > this.buffer.length) {
      this.buffer = Buffer.allocUnsafeSlow(this.chunkBytes);
      this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
      this.used = 0;
    }
    const offset = this.used;
    this.used += size;
    return { bytes: this.buffer, view: this.view, offset };
  }
}

export interface StreamPart {
  stream: string;
  streamBytes: Uint8Array;
  events: PreparedEvent[];
  /** Claim changes, and their encoding: stored after the data of the part's first record. */
  claims?: { changes: ClaimChanges; bytes: Uint8Array } | undefined;
}

/**
 * Encodes an accepted append as one batch (docs/format.md): a header with term, first position
 * and timestamp, then one record per event. Builds no event objects: live subscribers get them
 * decoded from these same bytes at commit, and only when there are live subscribers.
 */
export function encodeBatch(
  parts: readonly StreamPart[],
  plan: readonly PlannedAppend[],
  term: number,
  entryIndex: number,
  timestamp: number,
  ids: RandomIds,
  arena: WriteArena,
): Buffer {
  let recordBytes = 0;
  let count = 0;
  let generated = 0;
  for (const part of parts) {
    const streamLength = part.streamBytes.byteLength;
    for (const event of part.events) {
      recordBytes += recordSize(
        streamLength,
        event.typeBytes.byteLength,
        event.metadataBytes?.byteLength ?? 0,
        event.data.byteLength,
      );
      if (event.id === undefined && event.idBytes === undefined) generated++;
    }
    count += part.events.length;
    if (part.claims) recordBytes += part.claims.bytes.byteLength;
  }
  const random = generated > 0 ? ids.reserve(generated) : undefined;
  const size = batchSize(recordBytes);
  const { bytes, view, offset: start } = arena.reserve(size);
  let offset = encodeBatchHeader(view, start, { count, term, firstPosition: plan[0]!.position, timestamp, entryIndex });
  const fields: RecordFields = {
    flags: 0,
    index: 0,
    id: undefined,
    idBytes: undefined,
    randomIds: random?.bytes,
    randomOffset: random?.offset ?? 0,
    stream: parts[0]!.streamBytes,
    type: parts[0]!.events[0]!.typeBytes,
    metadata: undefined,
    data: parts[0]!.events[0]!.data,
    claims: undefined,
  };
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    const planned = plan[p]!;
    fields.stream = part.streamBytes;
    const events = part.events;
    for (let k = 0; k < events.length; k++) {
      const event = events[k]!;
      fields.flags = (event.contentType === 'json' ? FLAG_DATA_JSON : 0) | (event.idGenerated ? FLAG_GENERATED_ID : 0);
      fields.index = planned.index + k;
      fields.id = event.id;
      fields.idBytes = event.idBytes;
      fields.type = event.typeBytes;
      fields.metadata = event.metadataBytes;
      fields.data = event.data;
      fields.claims = k === 0 ? part.claims?.bytes : undefined;
      offset = encodeRecord(fields, bytes, view, offset);
      if (event.id === undefined && event.idBytes === undefined) fields.randomOffset += 16;
    }
  }
  sealBatch(bytes, view, start, offset);
  return bytes.subarray(start, offset);
}

/**
 * The event in a record of a checked batch. `data` is a view of `bytes`: a read chunk, or a
 * batch buffer shared by every live subscriber (values are immutable by contract).
 */
export const decodeEvent: RecordDecoder<Event> = (bytes, offset, position, batch) => {
  const streamLength = recordLayout.streamLength(bytes, offset);
  const typeLength = recordLayout.typeLength(bytes, offset);
  const metadataLength = recordLayout.metadataLength(bytes, offset);
  const dataLength = recordLayout.dataLength(bytes, offset);
  let at = recordLayout.fieldsOffset(offset);
  const stream = bytes.toString('utf8', at, at + streamLength);
  at += streamLength;
  const type = bytes.toString('utf8', at, at + typeLength);
  at += typeLength;
  const metadata =
    metadataLength > 0
      ? (JSON.parse(bytes.toString('utf8', at, at + metadataLength)) as Record<string, Json>)
      : undefined;
  at += metadataLength;
  return {
    id: readUuid(bytes, recordLayout.idOffset(offset)),
    stream,
    type,
    data: new Uint8Array(bytes.buffer, bytes.byteOffset + at, dataLength),
    contentType: (recordLayout.flags(bytes, offset) & FLAG_DATA_JSON) !== 0 ? 'json' : 'binary',
    metadata,
    position,
    index: recordLayout.index(bytes, offset),
    timestamp: batch.timestamp,
  };
};

/** Every event of one encoded batch, in order. */
export function decodeBatch(bytes: Buffer): Event[] {
  const header: BatchHeader = readBatchHeader(bytes, 0);
  const events = new Array<Event>(header.count);
  let record = firstRecordOffset(0);
  for (let i = 0; i < header.count; i++) {
    events[i] = decodeEvent(bytes, record, header.firstPosition + i, header);
    record = nextRecordOffset(bytes, record);
  }
  return events;
}

/** What the engine needs of a record when it replays the log: no data, no metadata. */
export const decodeForReplay: RecordDecoder<AppliedEvent> = (bytes, offset, position, batch) => {
  const generated = (recordLayout.flags(bytes, offset) & FLAG_GENERATED_ID) !== 0;
  const at = recordLayout.fieldsOffset(offset);
  const claimsLength = recordLayout.claimsLength(bytes, offset);
  const stream = bytes.toString('utf8', at, at + recordLayout.streamLength(bytes, offset));
  return {
    claims: claimsLength === 0 ? undefined : claimsOf(bytes, offset, claimsLength, position),
    lifecycle: stream.startsWith(METADATA_STREAM_PREFIX) ? lifecycleOf(bytes, offset, position) : undefined,
    gone: stream === SCAVENGE_STREAM ? goneOf(bytes, offset, position) : undefined,
    stream,
    index: recordLayout.index(bytes, offset),
    position,
    id: generated ? undefined : readUuid(bytes, recordLayout.idOffset(offset)),
    idGenerated: generated,
    timestamp: batch.timestamp,
  };
};

/** The lifecycle change a metadata stream's record makes (its type says which, its data the metadata). */
function lifecycleOf(bytes: Buffer, offset: number, position: number): LifecycleChange | undefined {
  return parseSystemRecord(bytes, offset, position, 'metadata change', lifecycleChangeOf);
}

/** The floors a scavenge point's record sets. */
function goneOf(bytes: Buffer, offset: number, position: number): GoneFloors | undefined {
  return parseSystemRecord(bytes, offset, position, 'scavenge point', goneFloorsOf);
}

function parseSystemRecord<T>(
  bytes: Buffer,
  offset: number,
  position: number,
  what: string,
  parse: (type: string, data: Uint8Array) => T | undefined,
): T | undefined {
  const streamLength = recordLayout.streamLength(bytes, offset);
  const typeLength = recordLayout.typeLength(bytes, offset);
  const typeAt = recordLayout.fieldsOffset(offset) + streamLength;
  const dataAt = typeAt + typeLength + recordLayout.metadataLength(bytes, offset);
  const type = bytes.toString('utf8', typeAt, typeAt + typeLength);
  try {
    return parse(type, bytes.subarray(dataAt, dataAt + recordLayout.dataLength(bytes, offset)));
  } catch (error) {
    // The batch passed its checksum: a record that does not decode was written so, by a bug.
    throw new StorageFailedError(
      `the ${what} at position ${position} does not decode: ${(error as Error).message}`,
      error,
    );
  }
}

function claimsOf(bytes: Buffer, offset: number, claimsLength: number, position: number): ClaimChanges {
  const end = nextRecordOffset(bytes, offset);
  try {
    return decodeClaimChanges(bytes.subarray(end - claimsLength, end));
  } catch (error) {
    // The batch passed its checksum: bytes that do not decode were written so, by a bug.
    throw new StorageFailedError(
      `the claim changes of the event at position ${position} do not decode: ${(error as Error).message}`,
      error,
    );
  }
}
