import {
  EventTooLargeError,
  InvalidArgumentError,
  InvalidEventError,
  InvalidExpectedError,
  InvalidStreamError,
  describe,
  type Expected,
} from './errors.js';
import type { AckMode, ContentType, EventInput, Filter, Json } from './event.js';
import { isUuid } from './uuid.js';
import { validateClaimChanges, type ClaimChanges } from './claims.js';

/**
 * Input checks at the API boundary, shared by the embedded log and (later) the client, so bad
 * input fails the same way everywhere and before anything is written. Pure: ids come from the
 * injected `newId`.
 */
export const MAX_STREAM_NAME_BYTES = 256;
/**
 * The reserved streams Ordo's patterns write through the public API (src/patterns): a
 * consumer's checkpoints and a model's snapshots, one stream per name.
 */
export const PATTERN_STREAM_PREFIXES: readonly string[] = ['$checkpoints-', '$snapshots-'];
export const MAX_TYPE_BYTES = 256;
export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;

const encoder = new TextEncoder();

export function utf8Length(text: string): number {
  // Fast path: ASCII strings have one byte per char.
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 127) {
      ascii = false;
      break;
    }
  }
  return ascii ? text.length : encoder.encode(text).byteLength;
}

/** `$`-prefixed streams are Ordo's own; `internal` lets Ordo's patterns write them. */
export function validateStream(stream: unknown, options: { internal?: boolean } = {}): string {
  if (typeof stream !== 'string') throw new InvalidStreamError(stream, 'expected a string');
  if (stream.length === 0) throw new InvalidStreamError(stream, 'expected a non-empty string');
  const bytes = utf8Length(stream);
  if (bytes > MAX_STREAM_NAME_BYTES) {
    throw new InvalidStreamError(stream, `${bytes} bytes long, expected at most ${MAX_STREAM_NAME_BYTES}`);
  }
  if (
    stream.startsWith('$') &&
    !options.internal &&
    !PATTERN_STREAM_PREFIXES.some((prefix) => stream.startsWith(prefix) && stream.length > prefix.length)
  ) {
    throw new InvalidStreamError(
      stream,
      `names starting with '$' are reserved for Ordo (its patterns write` +
        ` ${PATTERN_STREAM_PREFIXES.map((p) => `${p}<name>`).join(' and ')})`,
    );
  }
  return stream;
}

export function validateExpected(expected: unknown): Expected {
  if (expected === undefined) return 'any';
  if (expected === 'any' || expected === 'empty' || expected === 'exists') return expected;
  if (typeof expected === 'number' && Number.isSafeInteger(expected) && expected >= 0) return expected;
  throw new InvalidExpectedError(expected);
}

export function validateIndex(index: unknown, what = 'index'): number {
  if (typeof index === 'number' && Number.isSafeInteger(index) && index >= 0) return index;
  throw new InvalidArgumentError(`invalid ${what} ${describe(index)}: expected an integer >= 0`);
}

export function validateLimit(limit: unknown): number {
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  if (typeof limit === 'number' && (Number.isSafeInteger(limit) || limit === Infinity) && limit >= 0) return limit;
  throw new InvalidArgumentError(`invalid limit ${describe(limit)}: expected an integer >= 0`);
}

export function validateFilter(filter: unknown): Filter | undefined {
  if (filter === undefined) return undefined;
  if (typeof filter !== 'object' || filter === null) {
    throw new InvalidArgumentError(`invalid filter ${describe(filter)}: expected { streams?, prefixes?, types? }`);
  }
  const result: Filter = {};
  for (const key of Object.keys(filter)) {
    if (key !== 'streams' && key !== 'prefixes' && key !== 'types') {
      throw new InvalidArgumentError(`invalid filter key ${describe(key)}: expected streams, prefixes or types`);
    }
    const value = (filter as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      throw new InvalidArgumentError(`invalid filter.${key} ${describe(value)}: expected an array of strings`);
    }
    result[key] = value as string[];
  }
  return result;
}

/** An event checked and encoded, ready for the engine and the record codec. */
export interface PreparedEvent {
  /** The writer's id (lower case), or undefined: the log generates one when it writes the event. */
  id: string | undefined;
  /**
   * True when the writer gave no id: the log made one (`id` undefined) or a client library did
   * (for retries). Such ids are not remembered for idempotency, except a client's retry key.
   */
  idGenerated: boolean;
  /**
   * The 16 bytes of an id that was made elsewhere and need not be a string here (a client's
   * generated id, copied from the request into the record as it is). Set only when `id` is undefined.
   */
  idBytes?: Uint8Array | undefined;
  /** `id` is a client's retry key (the first client-made id of an append part): see engine/retry-keys.ts. */
  retryKey?: boolean;
  type: string;
  /** UTF-8 of `type`, shared by every event of that type. */
  typeBytes: Uint8Array;
  data: Uint8Array;
  contentType: ContentType;
  metadata: Record<string, Json> | undefined;
  metadataBytes: Uint8Array | undefined;
}

/**
 * UTF-8 of short strings that recur (types, stream names), so a hot path encodes each once.
 * Bounded: cleared when full, so a workload of endless distinct names costs only re-encoding.
 */
const utf8Cache = new Map<string, Uint8Array>();
const UTF8_CACHE_ENTRIES = 16_384;

export function encodeUtf8Cached(text: string): Uint8Array {
  let bytes = utf8Cache.get(text);
  if (bytes === undefined) {
    if (utf8Cache.size >= UTF8_CACHE_ENTRIES) utf8Cache.clear();
    bytes = encoder.encode(text);
    utf8Cache.set(text, bytes);
  }
  return bytes;
}

export function prepareEvent(input: unknown, maxEventBytes: number): PreparedEvent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidEventError('', input, 'an object { type, data?, metadata?, id? }');
  }
  const event = input as EventInput;
  const type = event.type;
  if (typeof type !== 'string' || type.length === 0) throw new InvalidEventError('type', type, 'a non-empty string');
  const typeBytes = encodeUtf8Cached(type);
  if (typeBytes.byteLength > MAX_TYPE_BYTES)
    throw new InvalidEventError('type', type, `at most ${MAX_TYPE_BYTES} bytes`);
  let id = event.id;
  let idGenerated = false;
  if (id === undefined) {
    idGenerated = true;
  } else if (!isUuid(id)) {
    throw new InvalidEventError('id', id, 'a UUID such as "0b6f3c4e-2c1a-4f3e-9b7d-5e8a1c2d3f40"');
  } else {
    id = id.toLowerCase();
  }
  let data: Uint8Array;
  let contentType: ContentType;
  if (event.data instanceof Uint8Array) {
    data = event.data;
    contentType = 'binary';
  } else {
    data = encodeJson(event.data === undefined ? null : event.data, 'data');
    contentType = 'json';
  }
  let metadataBytes: Uint8Array | undefined;
  const metadata = event.metadata;
  if (metadata !== undefined) {
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw new InvalidEventError('metadata', metadata, 'a plain object of JSON values');
    }
    metadataBytes = encodeJson(metadata, 'metadata');
  }
  const size = data.byteLength + (metadataBytes?.byteLength ?? 0) + typeBytes.byteLength;
  if (size > maxEventBytes) throw new EventTooLargeError(size, maxEventBytes);
  return { id, idGenerated, type, typeBytes, data, contentType, metadata, metadataBytes };
}

export function prepareEvents(input: unknown, maxEventBytes: number): PreparedEvent[] {
  const list = Array.isArray(input) ? input : [input];
  if (list.length === 0) throw new InvalidArgumentError('an append needs at least one event, got an empty array');
  const events = new Array<PreparedEvent>(list.length);
  let seen: Set<string> | undefined;
  for (let i = 0; i < list.length; i++) {
    const event = prepareEvent(list[i], maxEventBytes);
    if (event.id !== undefined && list.length > 1) {
      seen ??= new Set();
      if (seen.has(event.id)) throw new InvalidEventError('id', event.id, 'ids unique within one append');
      seen.add(event.id);
    }
    events[i] = event;
  }
  return events;
}

function encodeJson(value: unknown, field: string): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new InvalidEventError(field, value, `a JSON-serializable value (${(error as Error).message})`);
  }
  if (text === undefined) throw new InvalidEventError(field, value, 'a JSON-serializable value or bytes');
  return encoder.encode(text);
}

/** One stream's part of an `appendMany`, checked. */
export interface PreparedStreamAppend {
  stream: string;
  expected: Expected;
  events: PreparedEvent[];
  claims?: ClaimChanges | undefined;
}

/**
 * Checks `appendMany`'s input: a non-empty array of `{ stream, events, expected? }`, and event
 * ids unique across all its parts (one id names one event).
 */
export function prepareStreamAppends(appends: unknown, maxEventBytes: number): PreparedStreamAppend[] {
  if (!Array.isArray(appends) || appends.length === 0) {
    throw new InvalidArgumentError(
      `invalid appendMany ${describe(appends)}: expected a non-empty array of { stream, events, expected? }`,
    );
  }
  const parts = appends.map((append: unknown) => {
    if (typeof append !== 'object' || append === null) {
      throw new InvalidArgumentError(
        `invalid appendMany entry ${describe(append)}: expected { stream, events, expected? }`,
      );
    }
    const { stream, expected, events, claims, releases } = append as {
      stream?: unknown;
      expected?: unknown;
      events?: unknown;
      claims?: unknown;
      releases?: unknown;
    };
    return {
      stream: validateStream(stream),
      expected: validateExpected(expected),
      events: prepareEvents(events, maxEventBytes),
      claims: validateClaimChanges(claims, releases),
    };
  });
  checkUniqueIds(parts);
  return parts;
}

/** Throws unless the writer-given ids across `parts` are unique. */
export function checkUniqueIds(parts: ReadonlyArray<{ events: readonly PreparedEvent[] }>): void {
  if (parts.length < 2) return;
  const ids = new Set<string>();
  for (const part of parts) {
    for (const event of part.events) {
      if (event.id === undefined) continue;
      if (ids.has(event.id)) throw new InvalidEventError('id', event.id, 'ids unique within one appendMany');
      ids.add(event.id);
    }
  }
}

/** An append's ack mode, `'quorum'` when not given. */
export function validateAck(ack: unknown): AckMode {
  if (ack === undefined) return 'quorum';
  if (ack === 'none' || ack === 'leader' || ack === 'quorum') return ack;
  throw new InvalidArgumentError(`invalid ack ${describe(ack)}: expected 'none', 'leader' or 'quorum'`);
}
