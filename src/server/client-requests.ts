import type { LifecycleChange } from '../engine/lifecycle.js';
import { lifecycleAppend, lifecycleEvent, type OrdoNode, type WriteOutcome, type WriteRequest } from '../node/index.js';
import type { ByteWriter } from '../protocol/bytes.js';
import { EVENTS_DONE, EVENTS_HISTORY } from '../protocol/constants.js';
import type { Request } from '../protocol/requests.js';
import {
  writeAppendManyOk,
  writeAppendOk,
  writeCountOk,
  writeEvents,
  writeHeadOk,
  writeOk,
  writeStoredEvents,
  writeStreamMetadata,
  writeStreamsOk,
} from '../protocol/responses.js';
import type { Event, ReadAllOptions, ReadOptions, StreamInfo } from '../types/event.js';
import type { Answer } from './frame-output.js';
import { EVENTS_FRAME_TARGET_BYTES, type RawCatchUp } from './subscription-pump.js';

/** Events a read page holds at most, and its approximate byte budget. */
export const MAX_PAGE_EVENTS = 4096;
/** Bytes an event is reckoned to take in a frame beyond its data, for page sizes. */
const EVENT_FRAMING_ESTIMATE_BYTES = 128;

/** The requests answered with one answer once the log has done its part. */
type OneShotOp =
  | 'appendMany'
  | 'existsOrWrite'
  | 'publishTransient'
  | 'read'
  | 'readAll'
  | 'count'
  | 'headPosition'
  | 'streams'
  | 'setStreamMetadata'
  | 'deleteStream'
  | 'erase'
  | 'getStreamMetadata';
export type OneShotRequest = Extract<Request, { op: OneShotOp }>;
type RequestOf<Op extends Request['op']> = Extract<Request, { op: Op }>;

/** Does what the request asks of the log and returns the answer to write. */
export async function answerRequest(log: OrdoNode, id: number, request: OneShotRequest): Promise<Answer> {
  switch (request.op) {
    case 'appendMany': {
      const outcome = await writeOne(log, { parts: request.parts, ack: request.ack, resent: request.resent });
      return (w) => writeAppendManyOk(w, id, { position: outcome.parts[0]!.position, streams: outcome.parts });
    }
    case 'existsOrWrite': {
      const part = { stream: request.stream, expected: request.index, events: [request.event] };
      const outcome = await writeOne(log, {
        parts: [part],
        ack: 'quorum',
        resent: request.resent,
        existsOrWrite: true,
      });
      const { position, index, count } = outcome.parts[0]!;
      return (w) => writeAppendOk(w, id, position, index, count, outcome.written);
    }
    case 'publishTransient':
      log.publish(request.stream, request.event);
      return (w) => writeOk(w, id);
    case 'read':
      return answerRead(log, id, request);
    case 'readAll':
      return answerReadAll(log, id, request);
    case 'count': {
      const count = await log.count(request.stream);
      return (w) => writeCountOk(w, id, count);
    }
    case 'headPosition': {
      const position = await log.headPosition();
      return (w) => writeHeadOk(w, id, position);
    }
    case 'streams':
      return answerStreams(log, id, request);
    case 'setStreamMetadata':
    case 'deleteStream':
    case 'erase':
      return answerLifecycleChange(log, id, request);
    case 'getStreamMetadata': {
      const answer = await log.getStreamMetadata(request.stream, { consistency: request.consistency });
      return (w) => writeStreamMetadata(w, id, answer);
    }
  }
}

/**
 * A metadata change or a deletion: one event of the stream's metadata stream, written with
 * the client's retry key as its id, so that a re-send is answered with the original's place.
 * Answered like an append to the metadata stream.
 */
async function answerLifecycleChange(
  log: OrdoNode,
  id: number,
  request: RequestOf<'setStreamMetadata' | 'deleteStream' | 'erase'>,
): Promise<Answer> {
  const change = lifecycleChangeOfRequest(request);
  const event = { ...lifecycleEvent(change, request.retryKey), retryKey: true };
  const part = lifecycleAppend(request.stream, change, request.expected, event);
  const outcome = await writeOne(log, { parts: [part], ack: 'quorum', resent: request.resent });
  // An erasure is answered once this node removed the bytes (every node does as it commits).
  if (request.op === 'erase') await log.erasuresDone();
  const { position, index, count } = outcome.parts[0]!;
  return (w) => writeAppendOk(w, id, position, index, count, true);
}

function lifecycleChangeOfRequest(request: RequestOf<'setStreamMetadata' | 'deleteStream' | 'erase'>): LifecycleChange {
  switch (request.op) {
    case 'setStreamMetadata':
      return { kind: 'metadata', metadata: request.metadata };
    case 'deleteStream':
      return { kind: request.tombstone ? 'tombstone' : 'delete' };
    case 'erase':
      return { kind: 'tombstone', erase: true };
  }
}

async function answerRead(log: OrdoNode, id: number, request: RequestOf<'read'>): Promise<Answer> {
  const limit = pageLimit(request.limit);
  const { from, backwards, consistency, minPosition } = request;
  const options: ReadOptions = { limit, backwards, consistency };
  if (from !== undefined) options.from = from;
  if (minPosition !== undefined) options.minPosition = minPosition;
  const page = await collectPage(log.read(request.stream, options), limit);
  const last = page.events[page.events.length - 1];
  const next = last ? (backwards ? last.index - 1 : last.index + 1) : (from ?? 0);
  const done = page.done || next < 0;
  return (w) => writePage(w, id, done, Math.max(next, 0), page.events);
}

async function answerReadAll(log: OrdoNode, id: number, request: RequestOf<'readAll'>): Promise<Answer> {
  const limit = pageLimit(request.limit);
  const { from, filter, consistency, minPosition } = request;
  if (filter === undefined && minPosition === undefined) {
    // The whole log: pages go out as stored records, no event decoded.
    const records = await log.readRaw(from, EVENTS_FRAME_TARGET_BYTES, limit, consistency);
    const next = records.last + 1;
    const done = next > log.committedPosition;
    return (w) => writeStoredEvents(w, id, done ? EVENTS_DONE : 0, next, records);
  }
  const options: ReadAllOptions = { limit, consistency };
  if (from !== 'start') options.from = from;
  if (filter !== undefined) options.filter = filter;
  if (minPosition !== undefined) options.minPosition = minPosition;
  const page = await collectPage(log.readAll(options), limit);
  const last = page.events[page.events.length - 1];
  const next = last ? last.position + 1 : from === 'start' ? log.firstPosition : from;
  return (w) => writePage(w, id, page.done, next, page.events);
}

/** A page of the streams after `request.after` (the previous page's last). */
async function answerStreams(log: OrdoNode, id: number, request: RequestOf<'streams'>): Promise<Answer> {
  const streams: StreamInfo[] = [];
  let skipping = request.after !== '';
  const limit = pageLimit(request.limit);
  for await (const info of log.streams({ prefix: request.prefix })) {
    if (skipping) {
      skipping = info.stream !== request.after;
      continue;
    }
    streams.push(info);
    if (streams.length >= limit) break;
  }
  return (w) => writeStreamsOk(w, id, streams);
}

/** An unfiltered subscription's catch-up from a position: stored bytes first, then the log's own subscription. */
export function rawCatchUp(log: OrdoNode, from: 'start' | number, transient: boolean): RawCatchUp {
  return {
    next: from === 'start' ? log.firstPosition : from,
    read: (position, maxBytes, maxEvents) => log.readRaw(position, maxBytes, maxEvents),
    committed: () => log.committedPosition,
    subscribeFrom: (position) => log.subscribe({ from: position, transient }),
  };
}

/** Sends a stream's history (readAndSubscribe) in frames of about EVENTS_FRAME_TARGET_BYTES each. */
export function sendHistory(send: (answer: Answer) => void, id: number, history: readonly Event[]): void {
  for (let start = 0; start < history.length; ) {
    let end = start;
    let bytes = 0;
    while (end < history.length && bytes < EVENTS_FRAME_TARGET_BYTES) {
      bytes += history[end++]!.data.byteLength + EVENT_FRAMING_ESTIMATE_BYTES;
    }
    const chunk = history.slice(start, end);
    send((w) => writeEvents(w, id, EVENTS_HISTORY, chunk[chunk.length - 1]!.index + 1, chunk));
    start = end;
  }
}

function writePage(w: ByteWriter, id: number, done: boolean, next: number, events: Event[]): void {
  writeEvents(w, id, done ? EVENTS_DONE : 0, next, events);
}

function pageLimit(requested: number): number {
  return requested === 0 ? MAX_PAGE_EVENTS : Math.min(requested, MAX_PAGE_EVENTS);
}

/** Up to `limit` events or about EVENTS_FRAME_TARGET_BYTES; `done` when the source ran out. */
async function collectPage(source: AsyncIterable<Event>, limit: number): Promise<{ events: Event[]; done: boolean }> {
  const events: Event[] = [];
  let bytes = 0;
  for await (const event of source) {
    events.push(event);
    bytes += event.data.byteLength + EVENT_FRAMING_ESTIMATE_BYTES;
    if (events.length >= limit || bytes >= EVENTS_FRAME_TARGET_BYTES) return { events, done: false };
  }
  return { events, done: true };
}

/** One write through the node's write entry point: its outcome, or its error thrown. */
async function writeOne(log: OrdoNode, request: WriteRequest): Promise<WriteOutcome> {
  const [outcome] = await log.write([request]);
  if (outcome instanceof Error) throw outcome;
  return outcome!;
}
