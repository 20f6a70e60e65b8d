import type { Entry } from '../raft/index.js';
import {
  BATCH_KIND_CONFIG,
  BATCH_KIND_NOOP,
  BATCH_OVERHEAD_BYTES,
  encodeControlBatch,
  readBatchHeader,
} from '../storage/record.js';
import { StorageFailedError } from '../types/errors.js';

/**
 * A Raft entry and the batch it is stored as (docs/format.md): an event batch is the entry's
 * data itself, as the leader encoded it; a no-op or a membership change is a control batch
 * without events. These two functions are each other's inverse.
 */
export function batchOfEntry(entry: Entry, nextPosition: number): { bytes: Buffer; first: number; last: number } {
  if (entry.kind === 'config') {
    const bytes = encodeControlBatch(
      BATCH_KIND_CONFIG,
      { term: entry.term, entryIndex: entry.index, nextPosition, timestamp: 0 },
      entry.data,
    );
    return { bytes, first: nextPosition, last: nextPosition - 1 };
  }
  if (entry.data.byteLength === 0) {
    const bytes = encodeControlBatch(
      BATCH_KIND_NOOP,
      { term: entry.term, entryIndex: entry.index, nextPosition, timestamp: 0 },
      entry.data,
    );
    return { bytes, first: nextPosition, last: nextPosition - 1 };
  }
  const bytes = Buffer.isBuffer(entry.data)
    ? entry.data
    : Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength);
  const header = readBatchHeader(bytes, 0);
  if (header.entryIndex !== entry.index || header.term !== entry.term || header.firstPosition !== nextPosition) {
    throw new StorageFailedError(
      `entry ${entry.index} of term ${entry.term} holds a batch for entry ${header.entryIndex} of` +
        ` term ${header.term} at position ${header.firstPosition}, expected position ${nextPosition}`,
    );
  }
  return { bytes, first: nextPosition, last: nextPosition + header.count - 1 };
}

/** A stored batch as the Raft entry it is. */
export function entryOfBatch(batch: { entryIndex: number; term: number; kind: number; bytes: Buffer }): Entry {
  if (batch.kind === BATCH_KIND_CONFIG)
    return {
      term: batch.term,
      index: batch.entryIndex,
      kind: 'config',
      data: batch.bytes.subarray(BATCH_OVERHEAD_BYTES),
    };
  if (batch.kind === BATCH_KIND_NOOP)
    return { term: batch.term, index: batch.entryIndex, kind: 'normal', data: new Uint8Array(0) };
  return { term: batch.term, index: batch.entryIndex, kind: 'normal', data: batch.bytes };
}
