import type { Message, SnapshotFrame } from '../raft/index.js';
import { decodeRaftMessages, encodeRaftMessages } from './raft-messages.js';
import { InvalidArgumentError, ProtocolError, type Expected } from '../types/errors.js';
import type { AckMode, Filter, ReadConsistency } from '../types/event.js';
import type { PreparedEvent } from '../types/validate.js';
import { decodeClaimChanges, encodeClaimChanges, validateClaimChanges, type ClaimChanges } from '../types/claims.js';
import type { ByteReader, ByteWriter } from './bytes.js';
import {
  ACK_LEADER,
  ACK_NONE,
  ACK_QUORUM,
  FILTER_PREFIXES,
  FILTER_STREAMS,
  FILTER_TYPES,
  FROM_END,
  FROM_POSITION,
  FROM_START,
  FrameType,
  READ_BACKWARDS,
  READ_HAS_FROM,
  READ_LOCAL,
  READ_ALL_FROM_START,
  READ_HAS_MIN_POSITION,
  SUBSCRIBE_HAS_MIN_POSITION,
  REQUEST_RESENT,
  APPEND_HAS_CLAIMS,
  frameTypeName,
} from './constants.js';
import { readAppendRecords, writeAppendRecords } from './events.js';
import { readExpected, writeExpected } from './expected.js';
import { readLifecycleRequest, type LifecycleRequest } from './lifecycle-requests.js';
import type { RandomIds } from '../types/random-ids.js';
import { beginFrame, emptyFrame, endFrame, str16Frame, type Frame } from './frame.js';

/** A request as the server reads it. Stream names are checked by the log, like embedded input. */
export type Request =
  | { op: 'hello'; version: number; client: string; token: string }
  /** Raft messages from a peer node (never from a client library). */
  | { op: 'raft'; messages: Message[] }
  /** A chunk of a snapshot transfer between peer nodes (docs/protocol.md). */
  | { op: 'snapshot'; frame: SnapshotFrame }
  | {
      op: 'append';
      ack: AckMode;
      expected: Expected;
      stream: string;
      events: PreparedEvent[];
      resent: boolean;
      claims: ClaimChanges | undefined;
    }
  | {
      op: 'appendMany';
      ack: AckMode;
      parts: Array<{ stream: string; expected: Expected; events: PreparedEvent[]; claims: ClaimChanges | undefined }>;
      resent: boolean;
    }
  | { op: 'existsOrWrite'; stream: string; index: number; event: PreparedEvent; resent: boolean }
  | { op: 'publishTransient'; stream: string; event: PreparedEvent }
  | {
      op: 'read';
      stream: string;
      from: number | undefined;
      limit: number;
      backwards: boolean;
      consistency: ReadConsistency;
      minPosition: number | undefined;
    }
  | {
      op: 'readAll';
      /** 'start': the first position retention kept. */
      from: number | 'start';
      limit: number;
      filter: Filter | undefined;
      consistency: ReadConsistency;
      minPosition: number | undefined;
    }
  | {
      op: 'subscribe';
      from: 'start' | 'end' | number;
      filter: Filter | undefined;
      transient: boolean;
      credit: number;
      minPosition: number | undefined;
    }
  | { op: 'readAndSubscribe'; stream: string; credit: number }
  | { op: 'credit'; events: number }
  | { op: 'unsubscribe' }
  | { op: 'count'; stream: string }
  | { op: 'headPosition' }
  | { op: 'streams'; prefix: string; after: string; limit: number }
  | { op: 'ping' }
  | LifecycleRequest;

export interface RequestLimits {
  maxEventBytes: number;
  /** Events one append frame may carry. */
  maxEventsPerAppend: number;
}

// ---- client side: encoding ----

/** One RAFT frame carrying every message of one Ready for one peer. */
export function writeRaft(w: ByteWriter, messages: readonly Message[]): void {
  const start = beginFrame(w, FrameType.RAFT, 0, 0);
  w.raw(encodeRaftMessages(messages));
  endFrame(w, start);
}

/** Flag of a SNAPSHOT_READ or SNAPSHOT_DATA frame about a checkpoint file rather than batches. */
const SNAPSHOT_CHECKPOINT = 1;

/**
 * A snapshot transfer frame: SNAPSHOT_READ is str16 from | str16 to | u64 snapshotIndex |
 * u64 fromIndex | u64 positionHint, then with flag 1 u64 checkpoint position | u64 offset;
 * SNAPSHOT_DATA is str16 from | str16 to | u64 snapshotIndex | u64 fromIndex | str16 error,
 * then with flag 1 u64 checkpoint position | u64 offset | u64 entry index | u64 term |
 * u64 file size, then the bytes (batches as stored, or that piece of the checkpoint file) to
 * the end of the frame.
 */
export function writeSnapshotFrame(w: ByteWriter, frame: SnapshotFrame): void {
  const type = frame.type === 'snapshot-read' ? FrameType.SNAPSHOT_READ : FrameType.SNAPSHOT_DATA;
  const start = beginFrame(w, type, frame.checkpoint ? SNAPSHOT_CHECKPOINT : 0, 0);
  w.str16(frame.from);
  w.str16(frame.to);
  w.u64(frame.snapshotIndex);
  w.u64(frame.fromIndex);
  if (frame.type === 'snapshot-read') {
    w.u64(frame.positionHint);
    if (frame.checkpoint) {
      w.u64(frame.checkpoint.position);
      w.u64(frame.checkpoint.offset);
    }
  } else {
    w.str16(frame.error);
    const chunk = frame.checkpoint;
    if (chunk) for (const value of [chunk.position, chunk.offset, chunk.index, chunk.term, chunk.size]) w.u64(value);
    w.raw(frame.bytes);
  }
  endFrame(w, start);
}

export function writeHello(w: ByteWriter, requestId: number, version: number, client: string, token: string): void {
  const start = beginFrame(w, FrameType.HELLO, 0, requestId);
  w.u16(version);
  w.str16(client);
  w.str16(token);
  endFrame(w, start);
}

export function writeAppend(
  w: ByteWriter,
  requestId: number,
  stream: string,
  expected: Expected,
  ack: AckMode,
  events: readonly PreparedEvent[],
  ids: RandomIds,
  claims?: ClaimChanges,
): void {
  const start = beginFrame(w, FrameType.APPEND, claims ? APPEND_HAS_CLAIMS : 0, requestId);
  w.u8(ackCode(ack));
  writeExpected(w, expected);
  w.str16(stream);
  writeAppendRecords(w, events, ids);
  if (claims) writeClaims(w, claims);
  endFrame(w, start);
}

function writeClaims(w: ByteWriter, claims: ClaimChanges | undefined): void {
  const bytes = claims ? encodeClaimChanges(claims) : new Uint8Array(0);
  w.u16(bytes.byteLength);
  w.raw(bytes);
}

function readClaims(r: ByteReader): ClaimChanges | undefined {
  const length = r.u16('claims length');
  if (length === 0) return undefined;
  let decoded: ClaimChanges;
  try {
    decoded = decodeClaimChanges(r.bytesView(length, 'claim changes'));
  } catch (error) {
    throw new ProtocolError(`claim changes: ${(error as Error).message}`);
  }
  // The same limits as embedded input, with the same typed errors.
  return validateClaimChanges(decoded.claims, decoded.releases);
}

export function writeAppendMany(
  w: ByteWriter,
  requestId: number,
  ack: AckMode,
  parts: ReadonlyArray<{
    stream: string;
    expected: Expected;
    events: readonly PreparedEvent[];
    claims?: ClaimChanges | undefined;
  }>,
  ids: RandomIds,
): void {
  const withClaims = parts.some((part) => part.claims !== undefined);
  const start = beginFrame(w, FrameType.APPEND_MANY, withClaims ? APPEND_HAS_CLAIMS : 0, requestId);
  w.u8(ackCode(ack));
  w.u16(parts.length);
  for (const part of parts) {
    writeExpected(w, part.expected);
    w.str16(part.stream);
    writeAppendRecords(w, part.events, ids);
    if (withClaims) writeClaims(w, part.claims);
  }
  endFrame(w, start);
}

export function writeExistsOrWrite(
  w: ByteWriter,
  requestId: number,
  stream: string,
  index: number,
  event: PreparedEvent,
  ids: RandomIds,
): void {
  const start = beginFrame(w, FrameType.EXISTS_OR_WRITE, 0, requestId);
  w.u64(index);
  w.str16(stream);
  writeAppendRecords(w, [event], ids);
  endFrame(w, start);
}

export function writePublishTransient(
  w: ByteWriter,
  requestId: number,
  stream: string,
  event: PreparedEvent,
  ids: RandomIds,
): void {
  const start = beginFrame(w, FrameType.PUBLISH_TRANSIENT, 0, requestId);
  w.str16(stream);
  writeAppendRecords(w, [event], ids);
  endFrame(w, start);
}

export function writeRead(
  w: ByteWriter,
  requestId: number,
  stream: string,
  from: number | undefined,
  limit: number,
  backwards: boolean,
  consistency: ReadConsistency = 'linearizable',
  minPosition?: number,
): void {
  const flags =
    (backwards ? READ_BACKWARDS : 0) | (from !== undefined ? READ_HAS_FROM : 0) | readFlags(consistency, minPosition);
  const start = beginFrame(w, FrameType.READ, flags, requestId);
  w.str16(stream);
  w.u64(from ?? 0);
  w.u32(limit);
  if (minPosition !== undefined) w.u64(minPosition);
  endFrame(w, start);
}

function readFlags(consistency: ReadConsistency, minPosition: number | undefined): number {
  return (consistency === 'local' ? READ_LOCAL : 0) | (minPosition !== undefined ? READ_HAS_MIN_POSITION : 0);
}

export function writeReadAll(
  w: ByteWriter,
  requestId: number,
  from: number | 'start',
  limit: number,
  filter: Filter | undefined,
  consistency: ReadConsistency = 'linearizable',
  minPosition?: number,
): void {
  const flags = readFlags(consistency, minPosition) | (from === 'start' ? READ_ALL_FROM_START : 0);
  const start = beginFrame(w, FrameType.READ_ALL, flags, requestId);
  w.u64(from === 'start' ? 0 : from);
  w.u32(limit);
  writeFilter(w, filter);
  if (minPosition !== undefined) w.u64(minPosition);
  endFrame(w, start);
}

export function writeSubscribe(
  w: ByteWriter,
  requestId: number,
  from: 'start' | 'end' | number,
  filter: Filter | undefined,
  transient: boolean,
  credit: number,
  minPosition?: number,
): void {
  const start = beginFrame(
    w,
    FrameType.SUBSCRIBE,
    minPosition === undefined ? 0 : SUBSCRIBE_HAS_MIN_POSITION,
    requestId,
  );
  w.u8(from === 'start' ? FROM_START : from === 'end' ? FROM_END : FROM_POSITION);
  w.u64(typeof from === 'number' ? from : 0);
  w.u8(transient ? 1 : 0);
  w.u32(credit);
  writeFilter(w, filter);
  if (minPosition !== undefined) w.u64(minPosition);
  endFrame(w, start);
}

export function writeReadAndSubscribe(w: ByteWriter, requestId: number, stream: string, credit: number): void {
  const start = beginFrame(w, FrameType.READ_AND_SUBSCRIBE, 0, requestId);
  w.str16(stream);
  w.u32(credit);
  endFrame(w, start);
}

export function writeCredit(w: ByteWriter, subscriptionId: number, events: number): void {
  const start = beginFrame(w, FrameType.CREDIT, 0, subscriptionId);
  w.u32(events);
  endFrame(w, start);
}

export function writeUnsubscribe(w: ByteWriter, subscriptionId: number): void {
  emptyFrame(w, FrameType.UNSUBSCRIBE, 0, subscriptionId);
}

export function writeCount(w: ByteWriter, requestId: number, stream: string): void {
  str16Frame(w, FrameType.COUNT, requestId, stream);
}

export function writeHead(w: ByteWriter, requestId: number): void {
  emptyFrame(w, FrameType.HEAD, 0, requestId);
}

export function writeStreams(w: ByteWriter, requestId: number, prefix: string, after: string, limit: number): void {
  const start = beginFrame(w, FrameType.STREAMS, 0, requestId);
  w.str16(prefix);
  w.str16(after);
  w.u32(limit);
  endFrame(w, start);
}

export function writePing(w: ByteWriter, requestId: number): void {
  emptyFrame(w, FrameType.PING, 0, requestId);
}

function writeFilter(w: ByteWriter, filter: Filter | undefined): void {
  const mask =
    (filter?.streams ? FILTER_STREAMS : 0) |
    (filter?.prefixes ? FILTER_PREFIXES : 0) |
    (filter?.types ? FILTER_TYPES : 0);
  w.u8(mask);
  for (const list of [filter?.streams, filter?.prefixes, filter?.types]) {
    if (!list) continue;
    w.u16(list.length);
    for (const item of list) w.str16(item);
  }
}

function ackCode(ack: AckMode): number {
  return ack === 'none' ? ACK_NONE : ack === 'leader' ? ACK_LEADER : ACK_QUORUM;
}

// ---- server side: decoding ----

/**
 * Reads a request frame. A frame that breaks the format throws `ProtocolError` (the connection
 * is closed); a well-formed request with bad values throws the same typed error the embedded
 * log would (the request fails, the connection stays).
 */
export function readRequest(frame: Frame, limits: RequestLimits): Request {
  const request = decodeRequest(frame, limits);
  frame.payload.expectEnd(frameTypeName(frame.type));
  return request;
}

/** Dispatches on the frame type; each op's payload has its own reader. */
function decodeRequest(frame: Frame, limits: RequestLimits): Request {
  const r = frame.payload;
  switch (frame.type) {
    case FrameType.HELLO:
      return { op: 'hello', version: r.u16('version'), client: r.str16('client name'), token: r.str16('token') };
    case FrameType.APPEND:
      return readAppend(frame, limits);
    case FrameType.APPEND_MANY:
      return readAppendMany(frame, limits);
    case FrameType.EXISTS_OR_WRITE:
      return readExistsOrWrite(frame, limits);
    case FrameType.PUBLISH_TRANSIENT:
      return { op: 'publishTransient', stream: r.str16('stream'), event: readOneRecord(r, limits) };
    case FrameType.READ:
      return readRead(frame);
    case FrameType.READ_ALL:
      return readReadAll(frame);
    case FrameType.SUBSCRIBE:
      return readSubscribe(frame);
    case FrameType.READ_AND_SUBSCRIBE:
      return { op: 'readAndSubscribe', stream: r.str16('stream'), credit: r.u32('credit') };
    case FrameType.CREDIT:
      return { op: 'credit', events: r.u32('credit') };
    case FrameType.UNSUBSCRIBE:
      return { op: 'unsubscribe' };
    case FrameType.COUNT:
      return { op: 'count', stream: r.str16('stream') };
    case FrameType.HEAD:
      return { op: 'headPosition' };
    case FrameType.STREAMS:
      return { op: 'streams', prefix: r.str16('prefix'), after: r.str16('after'), limit: r.u32('limit') };
    case FrameType.PING:
      return { op: 'ping' };
    case FrameType.RAFT:
      return { op: 'raft', messages: decodeRaftMessages(r.bytesView(r.remaining, 'raft messages')) };
    case FrameType.SNAPSHOT_READ:
    case FrameType.SNAPSHOT_DATA:
      return { op: 'snapshot', frame: readSnapshotFrame(frame) };
    default: {
      const lifecycle = readLifecycleRequest(frame);
      if (lifecycle) return lifecycle;
      throw new ProtocolError(`unknown request frame type ${frameTypeName(frame.type)}`);
    }
  }
}

function isResent(frame: Frame): boolean {
  return (frame.flags & REQUEST_RESENT) !== 0;
}

function hasClaims(frame: Frame): boolean {
  return (frame.flags & APPEND_HAS_CLAIMS) !== 0;
}

/** The one event of an EXISTS_OR_WRITE or PUBLISH_TRANSIENT frame. */
function readOneRecord(r: ByteReader, limits: RequestLimits): PreparedEvent {
  return readAppendRecords(r, limits.maxEventBytes, 1)[0]!;
}

function readAppend(frame: Frame, limits: RequestLimits): Request {
  const r = frame.payload;
  const ack = readAck(r);
  const expected = readExpected(r);
  const stream = r.str16('stream');
  const events = readAppendRecords(r, limits.maxEventBytes, limits.maxEventsPerAppend);
  const claims = hasClaims(frame) ? readClaims(r) : undefined;
  return { op: 'append', ack, expected, stream, events, resent: isResent(frame), claims };
}

function readAppendMany(frame: Frame, limits: RequestLimits): Request {
  const r = frame.payload;
  const ack = readAck(r);
  const count = r.u16('part count');
  if (count === 0)
    throw new InvalidArgumentError(
      'invalid appendMany []: expected a non-empty array of { stream, events, expected? }',
    );
  const parts = [];
  for (let i = 0; i < count; i++) {
    const expected = readExpected(r);
    const stream = r.str16('stream');
    const events = readAppendRecords(r, limits.maxEventBytes, limits.maxEventsPerAppend);
    parts.push({ stream, expected, events, claims: hasClaims(frame) ? readClaims(r) : undefined });
  }
  return { op: 'appendMany', ack, parts, resent: isResent(frame) };
}

function readExistsOrWrite(frame: Frame, limits: RequestLimits): Request {
  const r = frame.payload;
  const index = r.u64('index');
  const stream = r.str16('stream');
  const event = readOneRecord(r, limits);
  return { op: 'existsOrWrite', stream, index, event, resent: isResent(frame) };
}

function readRead(frame: Frame): Request {
  const r = frame.payload;
  const stream = r.str16('stream');
  const from = r.u64('from');
  const limit = r.u32('limit');
  return {
    op: 'read',
    stream,
    from: (frame.flags & READ_HAS_FROM) !== 0 ? from : undefined,
    limit,
    backwards: (frame.flags & READ_BACKWARDS) !== 0,
    consistency: consistencyOf(frame.flags),
    minPosition: minPositionOf(r, frame.flags),
  };
}

/** Field order on the wire: from, limit, filter, then minPosition. */
function readReadAll(frame: Frame): Request {
  const r = frame.payload;
  const position = r.u64('from');
  const from = (frame.flags & READ_ALL_FROM_START) !== 0 ? 'start' : position;
  const limit = r.u32('limit');
  const filter = readFilter(r);
  const minPosition = minPositionOf(r, frame.flags);
  return { op: 'readAll', from, limit, filter, consistency: consistencyOf(frame.flags), minPosition };
}

function readSubscribe(frame: Frame): Request {
  const r = frame.payload;
  const kind = r.u8('from kind');
  const position = r.u64('from position');
  if (kind !== FROM_START && kind !== FROM_END && kind !== FROM_POSITION)
    throw new ProtocolError(`SUBSCRIBE: unknown from kind ${kind}`);
  const from = kind === FROM_START ? 'start' : kind === FROM_END ? 'end' : position;
  const transient = r.u8('transient') !== 0;
  const credit = r.u32('credit');
  const filter = readFilter(r);
  const minPosition = (frame.flags & SUBSCRIBE_HAS_MIN_POSITION) !== 0 ? r.u64('min position') : undefined;
  return { op: 'subscribe', from, transient, credit, filter, minPosition };
}

/** SNAPSHOT_READ or SNAPSHOT_DATA: the layout `writeSnapshotFrame` describes. */
function readSnapshotFrame(frame: Frame): SnapshotFrame {
  const r = frame.payload;
  if ((frame.flags & ~SNAPSHOT_CHECKPOINT) !== 0)
    throw new ProtocolError(`snapshot frame flags ${frame.flags}: only 1 (checkpoint) is defined`);
  const checkpoint = (frame.flags & SNAPSHOT_CHECKPOINT) !== 0;
  const from = r.str16('from');
  const to = r.str16('to');
  const snapshotIndex = r.u64('snapshot index');
  const fromIndex = r.u64('from index');
  if (frame.type === FrameType.SNAPSHOT_READ) {
    const read = {
      type: 'snapshot-read' as const,
      from,
      to,
      snapshotIndex,
      fromIndex,
      positionHint: r.u64('position hint'),
    };
    if (!checkpoint) return read;
    return { ...read, checkpoint: { position: r.u64('checkpoint position'), offset: r.u64('checkpoint offset') } };
  }
  const error = r.str16('error');
  const chunk = checkpoint
    ? {
        position: r.u64('checkpoint position'),
        offset: r.u64('checkpoint offset'),
        index: r.u64('checkpoint entry index'),
        term: r.u64('checkpoint term'),
        size: r.u64('checkpoint size'),
      }
    : undefined;
  // A copy: the chunk is staged asynchronously, after this frame's buffer may be reused.
  const bytes = r.bytesView(r.remaining, 'snapshot bytes').slice();
  const data = { type: 'snapshot-data' as const, from, to, snapshotIndex, fromIndex, bytes, error };
  return chunk ? { ...data, checkpoint: chunk } : data;
}

function minPositionOf(r: ByteReader, flags: number): number | undefined {
  return (flags & READ_HAS_MIN_POSITION) !== 0 ? r.u64('min position') : undefined;
}

function consistencyOf(flags: number): ReadConsistency {
  return (flags & READ_LOCAL) !== 0 ? 'local' : 'linearizable';
}

function readAck(r: ByteReader): AckMode {
  const code = r.u8('ack');
  if (code === ACK_NONE) return 'none';
  if (code === ACK_LEADER) return 'leader';
  if (code === ACK_QUORUM) return 'quorum';
  throw new ProtocolError(`unknown ack mode ${code}`);
}

function readFilter(r: ByteReader): Filter | undefined {
  const mask = r.u8('filter mask');
  if ((mask & ~(FILTER_STREAMS | FILTER_PREFIXES | FILTER_TYPES)) !== 0)
    throw new ProtocolError(`unknown filter bits ${mask}`);
  if (mask === 0) return undefined;
  const filter: Filter = {};
  if (mask & FILTER_STREAMS) filter.streams = readList(r, 'filter stream');
  if (mask & FILTER_PREFIXES) filter.prefixes = readList(r, 'filter prefix');
  if (mask & FILTER_TYPES) filter.types = readList(r, 'filter type');
  return filter;
}

function readList(r: ByteReader, what: string): string[] {
  const count = r.u16(`${what} count`);
  const list = new Array<string>(count);
  for (let i = 0; i < count; i++) list[i] = r.str16(what);
  return list;
}
