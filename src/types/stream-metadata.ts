import { InvalidMetadataError, describe, type Expected } from './errors.js';
import type { Json } from './json-value.js';
import type { ReadConsistency } from './read-consistency.js';

/**
 * A stream's settings, stored as events of its metadata stream (`$$<stream>`), so they are
 * replicated, idempotent, checked against an expected count and kept in the log's history
 * like any append. Reads honour them at once; scavenging reclaims the space later.
 * Each change replaces the whole metadata (give every field you want to keep).
 */
export interface StreamMetadata {
  /** Events older than this many milliseconds (by their timestamp) are hidden. */
  readonly maxAge?: number;
  /** Only the newest `maxCount` events are visible. */
  readonly maxCount?: number;
  /** Events with a stream index below this are hidden (a soft delete sets it to the count). */
  readonly truncateBefore?: number;
  /** The application's own fields, stored and returned as given. */
  readonly custom?: Readonly<Record<string, Json>>;
}

/** What `getStreamMetadata` answers: the metadata, and what it makes of the stream. */
export interface StreamMetadataResult {
  readonly stream: string;
  readonly metadata: StreamMetadata;
  /** Metadata changes so far (the metadata stream's count): the `expected` for the next change. */
  readonly metadataCount: number;
  /** The stream's count: every event ever appended, hidden or not (the next index). */
  readonly count: number;
  /** Every event so far is hidden by `truncateBefore` (a soft delete): the stream reads empty. */
  readonly deleted: boolean;
  /** Deleted for good: every later append and metadata change fails with `StreamDeletedError`. */
  readonly tombstoned: boolean;
  /** Erased (`erase`): tombstoned, and its events' bytes removed from every node. */
  readonly erased: boolean;
}

export interface SetStreamMetadataResult {
  /** Position of the metadata change in the log. */
  readonly position: number;
  /** Metadata changes after this one (the metadata stream's count). */
  readonly metadataCount: number;
}

export interface SetStreamMetadataOptions {
  /** Precondition on the metadata stream's count (`metadataCount`). Default `'any'`. */
  expected?: Expected | undefined;
  signal?: AbortSignal;
}

export interface GetStreamMetadataOptions {
  /** See ReadConsistency. Default `'linearizable'`. */
  consistency?: ReadConsistency;
}

export interface DeleteStreamOptions {
  /** Precondition on the stream's count (not its metadata's). Default `'any'`. */
  expected?: Expected | undefined;
  /** Delete for good: every later append fails with `StreamDeletedError`. Default false (soft). */
  tombstone?: boolean;
  signal?: AbortSignal;
}

export interface DeleteStreamResult {
  /** Position of the deletion event in the log. */
  readonly position: number;
}

/** The metadata stream of every stream is `$$` + its name. */
export const METADATA_STREAM_PREFIX = '$$';
/** Event types of a metadata stream: the whole metadata, a soft delete, a tombstone. */
export const METADATA_EVENT_TYPE = '$metadata';
export const DELETED_EVENT_TYPE = '$deleted';
export const TOMBSTONE_EVENT_TYPE = '$tombstone';
/** A tombstone that also removes the stream's event bytes from every node's segments now. */
export const ERASED_EVENT_TYPE = '$erased';
/**
 * Scavenge points: each event says, per stream, the index below which its events are gone for
 * good (data: `{ "floors": { "<stream>": <index> } }`). The leader writes one when scavenging
 * starts, so every node removes the same events and all of them keep serving the same ones.
 */
export const SCAVENGE_STREAM = '$scavenges';
export const SCAVENGE_POINT_EVENT_TYPE = '$scavenge-point';
/** Streams one scavenge point names at most: its JSON stays far below the largest event. */
export const MAX_SCAVENGE_POINT_STREAMS = 2000;

/** The most bytes a stream's metadata takes as JSON. */
export const MAX_METADATA_BYTES = 64 * 1024;

// TextEncoder, not Buffer: the browser client checks metadata too.
const utf8 = new TextEncoder();
const METADATA_FIELDS = ['maxAge', 'maxCount', 'truncateBefore', 'custom'];

export function metadataStreamOf(stream: string): string {
  return METADATA_STREAM_PREFIX + stream;
}

/** The stream a metadata stream describes, or undefined for any other stream. */
export function streamOfMetadataStream(name: string): string | undefined {
  return name.startsWith(METADATA_STREAM_PREFIX) ? name.slice(METADATA_STREAM_PREFIX.length) : undefined;
}

/** Checks metadata as a user gives it and returns a copy with only the fields given. */
export function validateStreamMetadata(input: unknown): StreamMetadata {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new InvalidMetadataError('', input, 'an object { maxAge?, maxCount?, truncateBefore?, custom? }');
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!METADATA_FIELDS.includes(key))
      throw new InvalidMetadataError(
        key,
        given[key],
        `no field ${describe(key)}: the fields are ${METADATA_FIELDS.join(', ')} (put your own under custom)`,
      );
  }
  const metadata: { -readonly [K in keyof StreamMetadata]: StreamMetadata[K] } = {};
  if (given.maxAge !== undefined) metadata.maxAge = positiveInteger('maxAge', given.maxAge, 'milliseconds');
  if (given.maxCount !== undefined) metadata.maxCount = positiveInteger('maxCount', given.maxCount, 'events');
  if (given.truncateBefore !== undefined) {
    const value = given.truncateBefore;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
      throw new InvalidMetadataError('truncateBefore', value, 'a stream index: an integer >= 0');
    metadata.truncateBefore = value;
  }
  if (given.custom !== undefined) {
    const custom = given.custom;
    if (typeof custom !== 'object' || custom === null || Array.isArray(custom))
      throw new InvalidMetadataError('custom', custom, 'an object of JSON values');
    metadata.custom = custom as Record<string, Json>;
  }
  const bytes = utf8.encode(JSON.stringify(metadata)).byteLength;
  if (bytes > MAX_METADATA_BYTES)
    throw new InvalidMetadataError('', `<${bytes} bytes of JSON>`, `at most ${MAX_METADATA_BYTES} bytes of JSON`);
  return metadata;
}

function positiveInteger(field: string, value: unknown, unit: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw new InvalidMetadataError(field, value, `a whole number of ${unit} >= 1`);
  return value;
}

/** What every log offers for streams' lifecycles, embedded (`open`) or remote (`connect`). */
export interface StreamLifecycle {
  /** Replaces the stream's metadata (one event in its metadata stream). Reads honour it at once. */
  setStreamMetadata(
    stream: string,
    metadata: StreamMetadata,
    options?: SetStreamMetadataOptions,
  ): Promise<SetStreamMetadataResult>;
  getStreamMetadata(stream: string, options?: GetStreamMetadataOptions): Promise<StreamMetadataResult>;
  /**
   * Deletes the stream: soft by default (every event so far reads as gone, the stream may be
   * written again and its indexes continue), for good with `tombstone: true`.
   */
  deleteStream(stream: string, options?: DeleteStreamOptions): Promise<DeleteStreamResult>;
  /**
   * Deletes the stream for good (a tombstone, also on a stream already tombstoned) and removes
   * its events' type, metadata and data from the segments of every node as soon as each commits
   * it. Resolves once this node (the leader, remotely) has removed them. Admin scope.
   */
  erase(stream: string, options?: EraseStreamOptions): Promise<EraseStreamResult>;
}

export interface EraseStreamOptions {
  /** Precondition on the stream's count. Default `'any'`. */
  expected?: Expected | undefined;
  signal?: AbortSignal;
}

export interface EraseStreamResult {
  /** Position of the erasure event (`$erased` in the metadata stream) in the log. */
  readonly position: number;
}
