import type { IncomingMessage } from 'node:http';
import {
  InvalidArgumentError,
  InvalidEventError,
  LimitExceededError,
  type OrdoError,
  errorDetails,
  describe,
} from '../types/errors.js';
import type { Event, EventInput, Json, TransientEvent } from '../types/event.js';

/** JSON shapes of the HTTP API (docs/http-api.md): events in and out, errors, status codes. */

const decoder = new TextDecoder('utf-8', { fatal: true });
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** An event as JSON: `data` parsed when it is JSON, else `dataBase64`. */
export function eventToJson(event: Event | TransientEvent): Record<string, unknown> {
  const body: Record<string, unknown> =
    'transient' in event
      ? {
          transient: true,
          id: event.id,
          stream: event.stream,
          type: event.type,
          timestamp: event.timestamp,
          contentType: event.contentType,
        }
      : {
          id: event.id,
          stream: event.stream,
          type: event.type,
          position: event.position,
          index: event.index,
          timestamp: event.timestamp,
          contentType: event.contentType,
        };
  const data = event.contentType === 'json' ? parseJsonBytes(event.data) : undefined;
  if (data !== undefined) body.data = data.value;
  else
    body.dataBase64 = Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength).toString('base64');
  if (!('transient' in event) && event.metadata !== undefined) body.metadata = event.metadata;
  return body;
}

function parseJsonBytes(bytes: Uint8Array): { value: Json } | undefined {
  try {
    return { value: JSON.parse(decoder.decode(bytes)) as Json };
  } catch {
    return undefined; // flagged JSON but not JSON (a client wrote it so): shown as bytes
  }
}

/** An event from a JSON body: `{ type, data?, dataBase64?, metadata?, id? }`. */
export function eventFromJson(value: unknown, where = 'event'): EventInput {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidEventError('', value, `${where} to be an object { type, data?, dataBase64?, metadata?, id? }`);
  }
  const { dataBase64, ...rest } = value as Record<string, unknown>;
  if (dataBase64 === undefined) return rest as unknown as EventInput;
  if (typeof dataBase64 !== 'string' || !BASE64.test(dataBase64) || dataBase64.length % 4 !== 0) {
    throw new InvalidEventError('dataBase64', dataBase64, 'a base64 string');
  }
  if (rest.data !== undefined)
    throw new InvalidEventError('data', rest.data, 'either data (JSON) or dataBase64 (bytes), not both');
  return { ...(rest as unknown as EventInput), data: new Uint8Array(Buffer.from(dataBase64, 'base64')) };
}

/** The events of an append body: an array, or `{ events: [...] }`. */
export function eventsFromJson(body: unknown): {
  events: EventInput[];
  expected?: unknown;
  claims?: unknown;
  releases?: unknown;
} {
  if (Array.isArray(body)) return { events: body.map((event, i) => eventFromJson(event, `events[${i}]`)) };
  if (typeof body === 'object' && body !== null && Array.isArray((body as { events?: unknown }).events)) {
    // The log checks `claims` and `releases` and names a bad one in INVALID_ARGUMENT.
    const { events, expected, claims, releases } = body as {
      events: unknown[];
      expected?: unknown;
      claims?: unknown;
      releases?: unknown;
    };
    return { events: events.map((event, i) => eventFromJson(event, `events[${i}]`)), expected, claims, releases };
  }
  if (typeof body === 'object' && body !== null && 'type' in body) return { events: [eventFromJson(body)] };
  throw new InvalidArgumentError(
    `invalid append body ${describe(body)}: expected an array of events` +
      ` or { "events": [...], "expected"?, "claims"?, "releases"? }`,
  );
}

/** HTTP status of an error, by code. */
export function statusOf(error: OrdoError): number {
  switch (error.code) {
    case 'INVALID_ARGUMENT':
    case 'INVALID_STREAM':
    case 'INVALID_EVENT':
    case 'INVALID_EXPECTED':
    case 'INVALID_METADATA':
    case 'PROTOCOL_ERROR':
      return 400;
    case 'UNAUTHENTICATED':
      return 401;
    case 'PERMISSION_DENIED':
      return 403;
    case 'WRONG_EXPECTED_COUNT':
    case 'ID_CONFLICT':
    case 'CLAIM_CONFLICT':
      return 409;
    case 'EVENT_TOO_LARGE':
      return 413;
    case 'STREAM_DELETED':
      return 410; // Gone: a tombstoned stream never takes another append
    case 'POSITION_TRIMMED':
      return 410; // Gone: retention removed that part of the log
    case 'LIMIT_EXCEEDED':
      return 429;
    case 'NOT_LEADER':
      return 421; // Misdirected Request: the body names the leader
    case 'LOG_CLOSED':
    case 'UNAVAILABLE':
      return 503;
    case 'TIMEOUT':
      return 504;
    case 'DISK_FULL':
      return 507; // Insufficient Storage
    case 'UNKNOWN_OUTCOME':
    case 'STORAGE_FAILED':
      return 503; // the node stopped: another node, or this one restarted, answers
    default:
      return 500;
  }
}

export function errorToJson(error: OrdoError): { error: Record<string, unknown> } {
  return { error: { code: error.code, message: error.message, ...errorDetails(error) } };
}

/** The request body as JSON, at most `maxBytes` (413 beyond, 415 if it is not JSON). */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type))
    throw new HttpError(415, new InvalidArgumentError(`content-type ${describe(type)}: expected application/json`));
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes)
    throw new HttpError(
      413,
      new LimitExceededError(`request body of ${declared} bytes exceeds the maximum of ${maxBytes} bytes`),
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes)
      throw new HttpError(413, new LimitExceededError(`request body exceeds the maximum of ${maxBytes} bytes`));
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, new InvalidArgumentError(`request body is not JSON: ${(error as Error).message}`));
  }
}

/** An error with an HTTP status of its own (body limits, content type, routing). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: OrdoError,
    readonly headers: Record<string, string> = {},
  ) {
    super(error.message);
  }
}
