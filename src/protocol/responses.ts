import { ProtocolError, errorDetails, errorFromWire, type OrdoError } from '../types/errors.js';
import type { AppendManyResult, Event, ExistsOrWriteResult, StreamInfo, TransientEvent } from '../types/event.js';
import type { ByteReader, ByteWriter } from './bytes.js';
import type { StreamMetadata } from '../types/stream-metadata.js';
import {
  APPEND_WRITTEN,
  FrameType,
  METADATA_DELETED,
  METADATA_ERASED,
  METADATA_TOMBSTONED,
  frameTypeName,
} from './constants.js';
import {
  readEventRuns,
  readTransient,
  writeEventRuns,
  writeStoredRuns,
  writeTransient,
  type StoredRuns,
} from './events.js';
import { beginFrame, emptyFrame, endFrame, u64Frame, type Frame } from './frame.js';

/** An answer as the client reads it. */
export type Response =
  | { kind: 'welcome'; version: number; server: string; maxFrameBytes: number; maxInFlight: number }
  | { kind: 'appendOk'; result: ExistsOrWriteResult }
  | { kind: 'appendManyOk'; result: AppendManyResult }
  | { kind: 'ok' }
  | { kind: 'events'; flags: number; next: number; events: Event[] }
  | { kind: 'transient'; event: TransientEvent }
  | { kind: 'subscriptionEnd' }
  | { kind: 'count'; count: number }
  | { kind: 'head'; position: number }
  | { kind: 'streams'; streams: StreamInfo[] }
  | { kind: 'cut'; count: number }
  | { kind: 'pong' }
  | { kind: 'streamMetadata'; answer: StreamMetadataAnswer }
  | { kind: 'error'; error: OrdoError };

/** STREAM_METADATA: what `getStreamMetadata` answers, but the stream name (the client asked for it). */
export interface StreamMetadataAnswer {
  readonly metadata: StreamMetadata;
  readonly metadataCount: number;
  readonly count: number;
  readonly deleted: boolean;
  readonly tombstoned: boolean;
  readonly erased: boolean;
}

// ---- server side: encoding ----

export function writeWelcome(
  w: ByteWriter,
  requestId: number,
  version: number,
  server: string,
  maxFrameBytes: number,
  maxInFlight: number,
): void {
  const start = beginFrame(w, FrameType.WELCOME, 0, requestId);
  w.u16(version);
  w.str16(server);
  w.u32(maxFrameBytes);
  w.u32(maxInFlight);
  endFrame(w, start);
}

export function writeAppendOk(
  w: ByteWriter,
  requestId: number,
  position: number,
  index: number,
  count: number,
  written: boolean,
): void {
  const start = beginFrame(w, FrameType.APPEND_OK, written ? APPEND_WRITTEN : 0, requestId);
  w.u64(position);
  w.u64(index);
  w.u64(count);
  endFrame(w, start);
}

export function writeAppendManyOk(w: ByteWriter, requestId: number, result: AppendManyResult): void {
  const start = beginFrame(w, FrameType.APPEND_MANY_OK, 0, requestId);
  w.u64(result.position);
  w.u16(result.streams.length);
  for (const part of result.streams) {
    w.str16(part.stream);
    w.u64(part.position);
    w.u64(part.index);
    w.u64(part.count);
  }
  endFrame(w, start);
}

export function writeOk(w: ByteWriter, requestId: number): void {
  emptyFrame(w, FrameType.OK, 0, requestId);
}

/**
 * EVENTS: `u64 next` (where the reader continues: the next index of a stream read, the next
 * position of a log read or subscription) then runs of records.
 */
export function writeEvents(
  w: ByteWriter,
  requestId: number,
  flags: number,
  next: number,
  events: readonly Event[],
): void {
  const start = beginFrame(w, FrameType.EVENTS, flags, requestId);
  w.u64(next);
  writeEventRuns(w, events);
  endFrame(w, start);
}

/** EVENTS from records as stored: the same frame, with no event decoded or re-encoded. */
export function writeStoredEvents(
  w: ByteWriter,
  requestId: number,
  flags: number,
  next: number,
  stored: StoredRuns,
): void {
  const start = beginFrame(w, FrameType.EVENTS, flags, requestId);
  w.u64(next);
  writeStoredRuns(w, stored);
  endFrame(w, start);
}

export function writeTransientFrame(w: ByteWriter, requestId: number, event: TransientEvent): void {
  const start = beginFrame(w, FrameType.TRANSIENT, 0, requestId);
  writeTransient(w, event);
  endFrame(w, start);
}

export function writeSubscriptionEnd(w: ByteWriter, requestId: number): void {
  emptyFrame(w, FrameType.SUBSCRIPTION_END, 0, requestId);
}

export function writeCountOk(w: ByteWriter, requestId: number, count: number): void {
  u64Frame(w, FrameType.COUNT_OK, requestId, count);
}

/** The head position + 1, so an empty log (-1) fits a u64. */
export function writeHeadOk(w: ByteWriter, requestId: number, position: number): void {
  u64Frame(w, FrameType.HEAD_OK, requestId, position + 1);
}

export function writeStreamsOk(w: ByteWriter, requestId: number, streams: readonly StreamInfo[]): void {
  const start = beginFrame(w, FrameType.STREAMS_OK, 0, requestId);
  w.u32(streams.length);
  for (const info of streams) {
    w.str16(info.stream);
    w.u64(info.count);
  }
  endFrame(w, start);
}

export function writeCut(w: ByteWriter, requestId: number, count: number): void {
  u64Frame(w, FrameType.CUT, requestId, count);
}

export function writePong(w: ByteWriter, requestId: number): void {
  emptyFrame(w, FrameType.PONG, 0, requestId);
}

/** STREAM_METADATA (flags: 1 deleted, 2 tombstoned): u64 metadataCount | u64 count | str32 metadata JSON. */
export function writeStreamMetadata(w: ByteWriter, requestId: number, answer: StreamMetadataAnswer): void {
  const flags =
    (answer.deleted ? METADATA_DELETED : 0) |
    (answer.tombstoned ? METADATA_TOMBSTONED : 0) |
    (answer.erased ? METADATA_ERASED : 0);
  const start = beginFrame(w, FrameType.STREAM_METADATA, flags, requestId);
  w.u64(answer.metadataCount);
  w.u64(answer.count);
  w.str32(JSON.stringify(answer.metadata));
  endFrame(w, start);
}

/** ERROR: str16 code | str32 message | str32 details (JSON object, or empty). */
export function writeError(w: ByteWriter, requestId: number, error: OrdoError): void {
  const start = beginFrame(w, FrameType.ERROR, 0, requestId);
  w.str16(error.code);
  w.str32(error.message);
  const details = errorDetails(error);
  w.str32(details ? JSON.stringify(details) : '');
  endFrame(w, start);
}

// ---- client side: decoding ----

export function readResponse(frame: Frame): Response {
  const response = decodeResponse(frame);
  frame.payload.expectEnd(frameTypeName(frame.type));
  return response;
}

/** Dispatches on the frame type; each answer's payload has its own reader. */
function decodeResponse(frame: Frame): Response {
  const r = frame.payload;
  switch (frame.type) {
    case FrameType.WELCOME:
      return readWelcome(r);
    case FrameType.APPEND_OK:
      return { kind: 'appendOk', result: readAppendOk(frame) };
    case FrameType.APPEND_MANY_OK:
      return { kind: 'appendManyOk', result: readAppendManyOk(r) };
    case FrameType.OK:
      return { kind: 'ok' };
    case FrameType.EVENTS:
      return readEventsFrame(frame);
    case FrameType.TRANSIENT:
      return { kind: 'transient', event: readTransient(r) };
    case FrameType.SUBSCRIPTION_END:
      return { kind: 'subscriptionEnd' };
    case FrameType.COUNT_OK:
      return { kind: 'count', count: r.u64('count') };
    case FrameType.HEAD_OK:
      return { kind: 'head', position: r.u64('head') - 1 };
    case FrameType.STREAMS_OK:
      return { kind: 'streams', streams: readStreamInfos(r) };
    case FrameType.CUT:
      return { kind: 'cut', count: r.u64('count') };
    case FrameType.PONG:
      return { kind: 'pong' };
    case FrameType.STREAM_METADATA:
      return { kind: 'streamMetadata', answer: readStreamMetadata(frame) };
    case FrameType.ERROR:
      return { kind: 'error', error: readErrorFrame(r) };
    default:
      throw new ProtocolError(`unknown response frame type ${frameTypeName(frame.type)}`);
  }
}

function readWelcome(r: ByteReader): Response {
  const version = r.u16('version');
  const server = r.str16('server name');
  const maxFrameBytes = r.u32('max frame');
  const maxInFlight = r.u32('max in flight');
  return { kind: 'welcome', version, server, maxFrameBytes, maxInFlight };
}

function readAppendOk(frame: Frame): ExistsOrWriteResult {
  const r = frame.payload;
  const position = r.u64('position');
  const index = r.u64('index');
  const count = r.u64('count');
  return { position, index, count, written: (frame.flags & APPEND_WRITTEN) !== 0 };
}

function readAppendManyOk(r: ByteReader): AppendManyResult {
  const position = r.u64('position');
  const count = r.u16('part count');
  const streams = [];
  for (let i = 0; i < count; i++)
    streams.push({
      stream: r.str16('stream'),
      position: r.u64('position'),
      index: r.u64('index'),
      count: r.u64('count'),
    });
  return { position, streams };
}

function readEventsFrame(frame: Frame): Response {
  const next = frame.payload.u64('next');
  const events: Event[] = [];
  readEventRuns(frame.payload, events);
  return { kind: 'events', flags: frame.flags, next, events };
}

function readStreamInfos(r: ByteReader): StreamInfo[] {
  const count = r.u32('stream count');
  const streams: StreamInfo[] = [];
  for (let i = 0; i < count; i++) streams.push({ stream: r.str16('stream'), count: r.u64('count') });
  return streams;
}

function readStreamMetadata(frame: Frame): StreamMetadataAnswer {
  const r = frame.payload;
  if ((frame.flags & ~(METADATA_DELETED | METADATA_TOMBSTONED | METADATA_ERASED)) !== 0)
    throw new ProtocolError(`STREAM_METADATA: unknown flags ${frame.flags}`);
  const metadataCount = r.u64('metadata count');
  const count = r.u64('count');
  const text = r.str32('metadata');
  let metadata: unknown;
  try {
    metadata = JSON.parse(text);
  } catch {
    throw new ProtocolError('STREAM_METADATA: metadata is not JSON');
  }
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    throw new ProtocolError('STREAM_METADATA: metadata is not a JSON object');
  return {
    metadata: metadata as StreamMetadata,
    metadataCount,
    count,
    deleted: (frame.flags & METADATA_DELETED) !== 0,
    tombstoned: (frame.flags & METADATA_TOMBSTONED) !== 0,
    erased: (frame.flags & METADATA_ERASED) !== 0,
  };
}

/** ERROR: the layout `writeError` describes; details that are not JSON break the format. */
function readErrorFrame(r: ByteReader): OrdoError {
  const code = r.str16('error code');
  const message = r.str32('error message');
  const detailsText = r.str32('error details');
  let details: Record<string, unknown> | undefined;
  if (detailsText !== '') {
    try {
      details = JSON.parse(detailsText) as Record<string, unknown>;
    } catch {
      throw new ProtocolError('ERROR frame: details are not JSON');
    }
  }
  return errorFromWire(code, message, details);
}
