import { ProtocolError, errorDetails, errorFromWire, type OrdoError } from '../types/errors.js';
import type { AppendManyResult, Event, ExistsOrWriteResult, StreamInfo, TransientEvent } from '../types/event.js';
import type { ByteWriter } from './bytes.js';
import { APPEND_WRITTEN, FrameType, frameTypeName } from './constants.js';
import {
  readEventRuns,
  readTransient,
  writeEventRuns,
  writeStoredRuns,
  writeTransient,
  type StoredRuns,
} from './events.js';
import { beginFrame, emptyFrame, endFrame, type Frame } from './frame.js';

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
  | { kind: 'error'; error: OrdoError };

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
  const start = beginFrame(w, FrameType.COUNT_OK, 0, requestId);
  w.u64(count);
  endFrame(w, start);
}

/** The head position + 1, so an empty log (-1) fits a u64. */
export function writeHeadOk(w: ByteWriter, requestId: number, position: number): void {
  const start = beginFrame(w, FrameType.HEAD_OK, 0, requestId);
  w.u64(position + 1);
  endFrame(w, start);
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
  const start = beginFrame(w, FrameType.CUT, 0, requestId);
  w.u64(count);
  endFrame(w, start);
}

export function writePong(w: ByteWriter, requestId: number): void {
  emptyFrame(w, FrameType.PONG, 0, requestId);
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
  const r = frame.payload;
  let response: Response;
  switch (frame.type) {
    case FrameType.WELCOME:
      response = {
        kind: 'welcome',
        version: r.u16('version'),
        server: r.str16('server name'),
        maxFrameBytes: r.u32('max frame'),
        maxInFlight: r.u32('max in flight'),
      };
      break;
    case FrameType.APPEND_OK:
      response = {
        kind: 'appendOk',
        result: {
          position: r.u64('position'),
          index: r.u64('index'),
          count: r.u64('count'),
          written: (frame.flags & APPEND_WRITTEN) !== 0,
        },
      };
      break;
    case FrameType.APPEND_MANY_OK: {
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
      response = { kind: 'appendManyOk', result: { position, streams } };
      break;
    }
    case FrameType.OK:
      response = { kind: 'ok' };
      break;
    case FrameType.EVENTS: {
      const next = r.u64('next');
      const events: Event[] = [];
      readEventRuns(r, events);
      response = { kind: 'events', flags: frame.flags, next, events };
      break;
    }
    case FrameType.TRANSIENT:
      response = { kind: 'transient', event: readTransient(r) };
      break;
    case FrameType.SUBSCRIPTION_END:
      response = { kind: 'subscriptionEnd' };
      break;
    case FrameType.COUNT_OK:
      response = { kind: 'count', count: r.u64('count') };
      break;
    case FrameType.HEAD_OK:
      response = { kind: 'head', position: r.u64('head') - 1 };
      break;
    case FrameType.STREAMS_OK: {
      const count = r.u32('stream count');
      const streams: StreamInfo[] = [];
      for (let i = 0; i < count; i++) streams.push({ stream: r.str16('stream'), count: r.u64('count') });
      response = { kind: 'streams', streams };
      break;
    }
    case FrameType.CUT:
      response = { kind: 'cut', count: r.u64('count') };
      break;
    case FrameType.PONG:
      response = { kind: 'pong' };
      break;
    case FrameType.ERROR: {
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
      response = { kind: 'error', error: errorFromWire(code, message, details) };
      break;
    }
    default:
      throw new ProtocolError(`unknown response frame type ${frameTypeName(frame.type)}`);
  }
  r.expectEnd(frameTypeName(frame.type));
  return response;
}
