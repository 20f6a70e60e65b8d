import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Operation } from '../auth.js';

/** What a route asks the auth check for; `health` is answered to anyone, token or not. */
export type RouteOperation = Operation | 'health';

/** One method on one path pattern of the HTTP API. */
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path segments; `:name` captures one (URL-decoded). */
  pattern: string[];
  operation: RouteOperation;
  /** A reply to send as JSON, or `'streamed'` when the route wrote the response itself (SSE). */
  run(request: RouteRequest): Promise<Reply | 'streamed'>;
}

export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
}

export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string> | undefined;
}
