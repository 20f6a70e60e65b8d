import type { LifecycleChange } from '../engine/lifecycle.js';
import type { Expected } from '../types/errors.js';
import {
  DELETED_EVENT_TYPE,
  MAX_METADATA_BYTES,
  METADATA_EVENT_TYPE,
  TOMBSTONE_EVENT_TYPE,
  metadataStreamOf,
  validateStreamMetadata,
} from '../types/stream-metadata.js';
import { prepareEvent, type PreparedEvent } from '../types/validate.js';
import type { CheckedAppend } from './node-api.js';

/** Room for the metadata JSON and the event's own fields. */
const LIFECYCLE_EVENT_MAX_BYTES = MAX_METADATA_BYTES + 1024;

/**
 * The event a lifecycle change is stored as, in the stream's metadata stream: `$metadata`
 * (data: the whole metadata), `$deleted` or `$tombstone`. `id` makes a re-sent change
 * idempotent (a client's retry key); without one the log generates an id.
 */
export function lifecycleEvent(change: LifecycleChange, id?: string): PreparedEvent {
  switch (change.kind) {
    case 'metadata':
      return prepareEvent({ id, type: METADATA_EVENT_TYPE, data: { ...change.metadata } }, LIFECYCLE_EVENT_MAX_BYTES);
    case 'delete':
      return prepareEvent({ id, type: DELETED_EVENT_TYPE, data: {} }, LIFECYCLE_EVENT_MAX_BYTES);
    case 'tombstone':
      return prepareEvent({ id, type: TOMBSTONE_EVENT_TYPE, data: {} }, LIFECYCLE_EVENT_MAX_BYTES);
  }
}

/**
 * The write of a lifecycle change to `stream` (a name already checked): one event appended to
 * its metadata stream. A metadata change expects a count of the metadata stream; a deletion
 * expects a count of the stream it deletes.
 */
export function lifecycleAppend(
  stream: string,
  change: LifecycleChange,
  expected: Expected,
  event: PreparedEvent = lifecycleEvent(change),
): CheckedAppend {
  return {
    stream: metadataStreamOf(stream),
    expected,
    events: [event],
    lifecycle: { change, expectedOf: change.kind === 'metadata' ? undefined : stream },
  };
}

/** The change a metadata stream's event makes, from its type and data; undefined for other types. */
export function lifecycleChangeOf(type: string, data: Uint8Array): LifecycleChange | undefined {
  switch (type) {
    case METADATA_EVENT_TYPE: {
      const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
      return { kind: 'metadata', metadata: validateStreamMetadata(JSON.parse(text)) };
    }
    case DELETED_EVENT_TYPE:
      return { kind: 'delete' };
    case TOMBSTONE_EVENT_TYPE:
      return { kind: 'tombstone' };
    default:
      return undefined;
  }
}
