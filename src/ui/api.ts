import type { LogMetrics } from '../types/log-metrics.js';
import type { RaftStatus } from '../raft/index.js';

/** The console's access to the server: the HTTP API of the page's own origin, with the session's token. */

const TOKEN_KEY = 'ordo.token';

export function token(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(value: string): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** An error answer of the API: its HTTP status and the `{ error: { code, message, … } }` body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown>,
  ) {
    super(message);
  }
}

export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<T> {
  const headers: Record<string, string> = { ...init.headers };
  if (token()) headers.authorization = `Bearer ${token()}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await response.text();
  const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!response.ok) {
    const error = (body.error ?? {}) as Record<string, unknown>;
    throw new ApiError(
      response.status,
      String(error.code ?? response.status),
      String(error.message ?? response.statusText),
      error,
    );
  }
  return body as T;
}

/** An EventSource on `path` with the token in the query (EventSource cannot send headers). */
export function eventSource(path: string): EventSource {
  const url = new URL(path, location.origin);
  if (token()) url.searchParams.set('token', token());
  return new EventSource(url);
}

export interface Whoami {
  name: string;
  scopes: string[];
  authRequired: boolean;
}

export interface EventJson {
  id: string;
  stream: string;
  type: string;
  position: number;
  index: number;
  timestamp: number;
  contentType?: string;
  data?: unknown;
  dataBase64?: string;
  metadata?: unknown;
}

export interface Stats {
  time: number;
  node: RaftStatus;
  peers: Record<string, string>;
  log: LogMetrics;
  fsync: { count: number; p50Ms: number; p99Ms: number; maxMs: number };
  models: Array<{
    name: string;
    state: string;
    position: number;
    events: number;
    snapshotsWritten: number;
    lastError?: string;
  }>;
  consumers: Array<{
    name: string;
    state: string;
    position: number;
    checkpoint: number;
    failures: number;
    handled: number;
    lastError?: string;
  }>;
}

/** A stream's metadata as GET /streams/:stream/metadata answers it (docs/http-api.md). */
export interface StreamMetadataJson {
  maxAge?: number;
  maxCount?: number;
  truncateBefore?: number;
  custom?: Record<string, unknown>;
}

export interface StreamLifecycleJson {
  stream: string;
  metadata: StreamMetadataJson;
  metadataCount: number;
  count: number;
  deleted: boolean;
  tombstoned: boolean;
  erased: boolean;
}

/** What POST /admin/scavenge answers (docs/http-api.md). */
export interface ScavengeResultJson {
  streams: number;
  segmentsRewritten: number;
  holes: number;
  bytesReclaimed: number;
}

/** An error as the console shows it: `409 WRONG_EXPECTED_COUNT: …`. */
export function errorText(error: unknown): string {
  return error instanceof ApiError ? `${error.status} ${error.code}: ${error.message}` : String(error);
}
