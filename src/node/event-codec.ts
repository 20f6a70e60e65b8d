import type { Event, Json } from '../types/event.js';
import type { PreparedEvent } from '../types/validate.js';
import {
  FLAG_DATA_JSON,
  FLAG_END_OF_BATCH,
  FLAG_GENERATED_ID,
  decodeRecord,
  encodeRecord,
  recordSize,
  type LogRecord,
} from '../storage/record.js';
import type { PlannedAppend } from '../engine/decide.js';

export interface EncodedBatch {
  bytes: Buffer;
  events: Event[];
}

/**
 * Encodes an accepted append as one atomic batch of records, and builds the events live
 * subscribers will get. Their `data` is a view of the batch buffer: one copy of the bytes
 * serves the disk write and every live subscriber.
 */
export function encodeBatch(
  parts: ReadonlyArray<{ stream: string; streamBytes: number; events: PreparedEvent[] }>,
  plan: readonly PlannedAppend[],
  term: number,
  timestamp: number,
): EncodedBatch {
  let size = 0;
  for (const part of parts) {
    for (const event of part.events) {
      size += recordSize({ streamBytes: part.streamBytes, typeBytes: event.typeBytes, metadata: event.metadataBytes, data: event.data });
    }
  }
  const bytes = Buffer.allocUnsafe(size);
  const events: Event[] = [];
  let offset = 0;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    const planned = plan[p]!;
    const lastPart = p === parts.length - 1;
    for (let k = 0; k < part.events.length; k++) {
      const event = part.events[k]!;
      const position = planned.position + k;
      const index = planned.index + k;
      const flags =
        (lastPart && k === part.events.length - 1 ? FLAG_END_OF_BATCH : 0) |
        (event.contentType === 'json' ? FLAG_DATA_JSON : 0) |
        (event.idGenerated ? FLAG_GENERATED_ID : 0);
      offset = encodeRecord(
        {
          flags,
          term,
          position,
          index,
          timestamp,
          id: event.id,
          stream: part.stream,
          streamBytes: part.streamBytes,
          type: event.type,
          typeBytes: event.typeBytes,
          metadata: event.metadataBytes,
          data: event.data,
        },
        bytes,
        offset,
      );
      events.push({
        id: event.id,
        stream: part.stream,
        type: event.type,
        data: bytes.subarray(offset - event.data.byteLength, offset),
        contentType: event.contentType,
        metadata: event.metadata,
        position,
        index,
        timestamp,
      });
    }
  }
  return { bytes, events };
}

export function recordToEvent(record: LogRecord): Event {
  return {
    id: record.id,
    stream: record.stream,
    type: record.type,
    data: record.data,
    contentType: (record.flags & FLAG_DATA_JSON) !== 0 ? 'json' : 'binary',
    metadata: record.metadata ? (JSON.parse(record.metadata.toString('utf8')) as Record<string, Json>) : undefined,
    position: record.position,
    index: record.index,
    timestamp: record.timestamp,
  };
}

export { decodeRecord };
