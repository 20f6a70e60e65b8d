import type { ServerResponse } from 'node:http';

/** Every answer may be read from any origin: the API is guarded by tokens, not by cookies. */
export const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, content-type, ordo-expected-count, last-event-id',
  'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
};
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
/** How long a browser may reuse a preflight answer. */
const PREFLIGHT_MAX_AGE_S = 600;

/** A JSON answer (a string body is sent as it is, such as the metrics' text). */
export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const length = Buffer.byteLength(text);
  res.writeHead(status, { 'content-type': JSON_CONTENT_TYPE, ...CORS_HEADERS, ...headers, 'content-length': length });
  res.end(text);
}

/** The answer to a CORS preflight (OPTIONS), whatever the path. */
export function answerPreflight(res: ServerResponse): void {
  res.writeHead(204, { ...CORS_HEADERS, 'access-control-max-age': String(PREFLIGHT_MAX_AGE_S) }).end();
}
