import type { LifecycleChange } from '../engine/lifecycle.js';
import type { Expected } from '../types/errors.js';
import { invariantFailed } from '../engine/assert.js';
import type { GoneFloors } from '../engine/state.js';
import {
  DELETED_EVENT_TYPE,
  ERASED_EVENT_TYPE,
  MAX_SCAVENGE_POINT_STREAMS,
  SCAVENGE_POINT_EVENT_TYPE,
  SCAVENGE_STREAM,
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
    case 'tombstone': {
      const type = change.erase === true ? ERASED_EVENT_TYPE : TOMBSTONE_EVENT_TYPE;
      return prepareEvent({ id, type, data: {} }, LIFECYCLE_EVENT_MAX_BYTES);
    }
    case 'gone':
      return invariantFailed('a scavenge point is written by scavengePointAppend, not as a metadata-stream event');
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
    case ERASED_EVENT_TYPE:
      return { kind: 'tombstone', erase: true };
    default:
      return undefined;
  }
}

/** The append of one scavenge point (at most MAX_SCAVENGE_POINT_STREAMS floors). */
export function scavengePointAppend(floors: GoneFloors): CheckedAppend {
  if (floors.length === 0 || floors.length > MAX_SCAVENGE_POINT_STREAMS)
    invariantFailed(`a scavenge point of ${floors.length} streams, expected 1 to ${MAX_SCAVENGE_POINT_STREAMS}`);
  const data = { floors: Object.fromEntries(floors) };
  const event = prepareEvent({ type: SCAVENGE_POINT_EVENT_TYPE, data }, SCAVENGE_POINT_MAX_BYTES);
  return { stream: SCAVENGE_STREAM, expected: 'any', events: [event], gone: floors };
}

/** Room for the floors of MAX_SCAVENGE_POINT_STREAMS streams of the longest names. */
const SCAVENGE_POINT_MAX_BYTES = 1024 * 1024;

/** The floors a scavenge point's data holds (a record of the scavenge stream). */
export function goneFloorsOf(type: string, data: Uint8Array): GoneFloors | undefined {
  if (type !== SCAVENGE_POINT_EVENT_TYPE) return undefined;
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  const floors = (JSON.parse(text) as { floors: Record<string, number> }).floors;
  return Object.entries(floors);
}
