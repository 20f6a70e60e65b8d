import { recordLayout, type BatchHeader, type RecordDecoder } from '../storage/record.js';
import type { EventPlace } from './visibility.js';

/** A run of records with consecutive positions and one timestamp: a batch, or the part of one asked for. */
export interface RawRun {
  firstPosition: number;
  count: number;
  timestamp: number;
  /** Where its records start and end in `RawRecords.bytes`. */
  start: number;
  end: number;
}

/**
 * Committed records as their stored bytes (CRC-checked on the way in), for a server to send
 * without decoding and re-encoding each event: its wire format uses the same record layout.
 */
export interface RawRecords {
  runs: RawRun[];
  bytes: Uint8Array;
  count: number;
  /** Position of the last record read (hidden ones included: read on from `last + 1`), or `from - 1`. */
  last: number;
}

const INITIAL_BYTES = 64 * 1024;

/**
 * A storage decoder that copies each record into one buffer as it is parsed (the storage reuses
 * its read chunk, so nothing may point into it) and groups records into runs per batch.
 * Records beyond `maxEvents` are skipped, and so are the ones `visible` says readers may not see.
 */
export function rawCollector(
  from: number,
  maxEvents: number,
  visible?: (event: EventPlace) => boolean,
): { decode: RecordDecoder<0>; result(): RawRecords } {
  let bytes = new Uint8Array(INITIAL_BYTES);
  let used = 0;
  const runs: RawRun[] = [];
  let current: RawRun | undefined;
  let currentHeader: BatchHeader | undefined;
  let count = 0;
  let last = from - 1;
  const decode: RecordDecoder<0> = (chunk, offset, position, header) => {
    if (count >= maxEvents) return 0;
    if (visible && !visible(placeOf(chunk, offset, header))) {
      last = position;
      return 0;
    }
    const size = 4 + chunk.readUInt32LE(offset);
    if (used + size > bytes.byteLength) {
      let grown = bytes.byteLength * 2;
      while (grown < used + size) grown *= 2;
      const next = new Uint8Array(grown);
      next.set(bytes.subarray(0, used));
      bytes = next;
    }
    bytes.set(chunk.subarray(offset, offset + size), used);
    if (current && currentHeader === header && current.firstPosition + current.count === position) {
      current.count++;
      current.end = used + size;
    } else {
      current = { firstPosition: position, count: 1, timestamp: header.timestamp, start: used, end: used + size };
      currentHeader = header;
      runs.push(current);
    }
    used += size;
    count++;
    last = position;
    return 0;
  };
  return { decode, result: () => ({ runs, bytes: bytes.subarray(0, used), count, last }) };
}

function placeOf(chunk: Buffer, offset: number, header: BatchHeader): EventPlace {
  const at = recordLayout.fieldsOffset(offset);
  return {
    stream: chunk.toString('utf8', at, at + recordLayout.streamLength(chunk, offset)),
    index: recordLayout.index(chunk, offset),
    timestamp: header.timestamp,
  };
}
