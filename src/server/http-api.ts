import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { OrdoNode } from '../node/index.js';
import { InvalidArgumentError, LimitExceededError, LogClosedError, NotLeaderError, OrdoError, UnavailableError, describe, type Expected } from '../types/errors.js';
import type { Model } from '../patterns/index.js';
import type { AckMode, AppendOptions, Filter, StreamAppend } from '../types/event.js';
import { authorize, type Authenticator, type Operation } from './auth.js';
import { HttpError, errorToJson, eventFromJson, eventToJson, eventsFromJson, readJsonBody, statusOf } from './http-json.js';
import type { ServerMetrics } from './metrics.js';
import { streamEvents } from './sse.js';
import type { ConsoleAsset } from './console-assets.js';
import type { createConsoleStats } from './console-stats.js';

export interface HttpApiOptions {
  log: OrdoNode;
  auth: Authenticator;
  metrics: ServerMetrics;
  logger: Logger;
  /** Largest accepted request body; larger gets 413. Default 4 MiB. */
  maxBodyBytes?: number;
  /** Open SSE streams at most, server-wide; more get 429. Default 1024. */
  maxSseStreams?: number;
  /** In a cluster: each node's binary protocol URL (answers name the leader's). */
  peerUrls?: Readonly<Record<string, string>>;
  /** Models the server hosts (`ordo serve --models`), served at GET /models/:name. */
  models?: ReadonlyMap<string, Model<unknown>>;
  /** The web console: its files (GET / and /console/*) and its live feed (GET /console/stats). */
  console?: { assets: ReadonlyMap<string, ConsoleAsset> | undefined; stats: ReturnType<typeof createConsoleStats> };
}

export interface HttpApi {
  /** Handles every request whose path is not `/ws` (the WebSocket upgrade is handled elsewhere). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Ends every open SSE stream (graceful shutdown) and answers new requests with 503. */
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_SSE_STREAMS = 1024;
/** Events a read returns by default, and at most. */
const DEFAULT_READ_LIMIT = 1000;
const MAX_READ_LIMIT = 10_000;
const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, content-type, ordo-expected-count, last-event-id',
  'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
};

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path segments; `:name` captures one (URL-decoded). */
  pattern: string[];
  operation: Operation | 'health';
  run(request: RouteRequest): Promise<Reply | 'streamed'>;
}

interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/**
 * The HTTP+JSON+SSE API (docs/http-api.md), for curl, scripts and browsers: the same log, auth
 * and errors as the binary protocol, with JSON bodies and status codes.
 */
export function createHttpApi(options: HttpApiOptions): HttpApi {
  const { log, auth, metrics, logger } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxSseStreams = options.maxSseStreams ?? DEFAULT_MAX_SSE_STREAMS;
  const streams = new Set<ServerResponse>();
  let closing = false;

  const routes: Route[] = [
    {
      method: 'GET',
      pattern: ['health'],
      operation: 'health',
      run: async () => {
        if (closing || log.closed) return { status: 503, body: { status: 'closing' } };
        const raft = log.raftStatus();
        return { status: 200, body: { status: 'ok', headPosition: log.committedPosition, node: { id: raft.id, role: raft.role, term: raft.term, leader: raft.leader || null, commit: raft.commit } } };
      },
    },
    {
      method: 'GET',
      pattern: ['cluster'],
      operation: 'status',
      run: async () => ({ status: 200, body: { node: log.raftStatus(), peers: options.peerUrls ?? {} } }),
    },
    {
      method: 'POST',
      pattern: ['cluster', 'members'],
      operation: 'cluster',
      run: async ({ req }) => {
        const body = (await readJsonBody(req, maxBodyBytes)) as { id?: unknown; role?: unknown } | null;
        const id = body?.id;
        const role = body?.role ?? 'learner';
        if (typeof id !== 'string' || id === '') throw new InvalidArgumentError(`invalid member ${describe(body)}: expected { "id": "n4", "role": "learner" | "voter" }`);
        if (role !== 'learner' && role !== 'voter') throw new InvalidArgumentError(`invalid role ${describe(role)}: expected 'learner' or 'voter'`);
        const result = await log.changeMembership({ type: role === 'voter' ? 'add-voter' : 'add-learner', node: id });
        return { status: 200, body: { ...result, config: log.raftStatus().config } };
      },
    },
    {
      method: 'DELETE',
      pattern: ['cluster', 'members', ':id'],
      operation: 'cluster',
      run: async ({ params }) => {
        const result = await log.changeMembership({ type: 'remove', node: params.id! });
        return { status: 200, body: { ...result, config: log.raftStatus().config } };
      },
    },
    {
      method: 'POST',
      pattern: ['cluster', 'leader'],
      operation: 'cluster',
      run: async ({ req }) => {
        const body = (await readJsonBody(req, maxBodyBytes)) as { id?: unknown } | null;
        if (typeof body?.id !== 'string') throw new InvalidArgumentError(`invalid body ${describe(body)}: expected { "id": "n2" }`);
        log.transferLeadership(body.id);
        return { status: 202, body: { transferringTo: body.id } };
      },
    },
    {
      method: 'GET',
      pattern: ['metrics'],
      operation: 'metrics',
      run: async () => {
        const { contentType, body } = await metrics.render();
        return { status: 200, body, headers: { 'content-type': contentType } };
      },
    },
    {
      method: 'POST',
      pattern: ['streams', ':stream'],
      operation: 'append',
      run: async ({ req, params, query }) => {
        const { events, expected, claims, releases } = eventsFromJson(await readJsonBody(req, maxBodyBytes));
        // The log checks the values and names a bad one in INVALID_EXPECTED / INVALID_ARGUMENT.
        const result = await log.append(params.stream!, events, {
          expected: expectedOf(req, query, expected) as Expected,
          ack: ackOf(query),
          claims: claims as AppendOptions['claims'],
          releases: releases as AppendOptions['releases'],
        });
        return { status: 201, body: result };
      },
    },
    {
      method: 'POST',
      pattern: ['streams', ':stream', ':index'],
      operation: 'existsOrWrite',
      run: async ({ req, params }) => {
        const index = integerParam(params.index!, 'index');
        const result = await log.existsOrWrite(params.stream!, index, eventFromJson(await readJsonBody(req, maxBodyBytes)));
        return { status: result.written ? 201 : 200, body: result };
      },
    },
    {
      method: 'POST',
      pattern: ['append-many'],
      operation: 'appendMany',
      run: async ({ req, query }) => {
        const body = (await readJsonBody(req, maxBodyBytes)) as { appends?: unknown; ack?: unknown } | null;
        const appends = body?.appends;
        if (!Array.isArray(appends)) throw new InvalidArgumentError(`invalid append-many body ${describe(body)}: expected { "appends": [{ stream, events, expected? }] }`);
        const parts: StreamAppend[] = appends.map((append: unknown, i) => {
          if (typeof append !== 'object' || append === null) throw new InvalidArgumentError(`invalid appends[${i}] ${describe(append)}: expected { stream, events, expected? }`);
          const { stream, events, expected, claims, releases } = append as StreamAppend & { events: unknown };
          return { stream, expected, events: eventsFromJson(events).events, claims, releases };
        });
        return { status: 201, body: await log.appendMany(parts, { ack: (body?.ack as AckMode | undefined) ?? ackOf(query) }) };
      },
    },
    {
      method: 'POST',
      pattern: ['transient', ':stream'],
      operation: 'publishTransient',
      run: async ({ req, params }) => {
        await log.publishTransient(params.stream!, eventFromJson(await readJsonBody(req, maxBodyBytes)));
        return { status: 202, body: { published: true } };
      },
    },
    {
      method: 'GET',
      pattern: ['streams'],
      operation: 'streams',
      run: async ({ query }) => {
        const list = [];
        for await (const info of log.streams({ prefix: query.get('prefix') ?? undefined, limit: limitOf(query) })) list.push(info);
        return { status: 200, body: { streams: list } };
      },
    },
    {
      method: 'GET',
      pattern: ['whoami'],
      operation: 'whoami',
      run: async ({ req, query }) => {
        const principal = auth.authenticate(tokenOf(req, query));
        return { status: 200, body: { name: principal.name, scopes: [...principal.scopes], authRequired: auth.required } };
      },
    },
    {
      method: 'GET',
      pattern: ['console', 'stats'],
      operation: 'stats',
      run: async ({ req, res }) => {
        if (!options.console) throw new HttpError(404, new InvalidArgumentError('this server has no console'));
        streams.add(res);
        await options.console.stats.stream(req, res, () => undefined);
        streams.delete(res);
        return 'streamed';
      },
    },
    {
      method: 'GET',
      pattern: ['models'],
      operation: 'models',
      run: async () => ({ status: 200, body: { models: [...(options.models?.values() ?? [])].map((model) => model.status()) } }),
    },
    {
      method: 'GET',
      pattern: ['models', ':name'],
      operation: 'models',
      run: async ({ params }) => {
        const model = options.models?.get(params.name!);
        if (!model) throw new HttpError(404, new InvalidArgumentError(`no hosted model ${describe(params.name)}: this server hosts ${[...(options.models?.keys() ?? [])].map((name) => JSON.stringify(name)).join(', ') || 'none'} (ordo serve --models)`));
        const status = model.status();
        if (status.state === 'loading' || status.state === 'failed') throw new UnavailableError(`model ${JSON.stringify(model.name)} is ${status.state}${status.lastError ? `: ${status.lastError}` : ''}`);
        // The state and its position, read together (both change only between turns of the event loop).
        return { status: 200, body: { name: model.name, position: model.position, state: model.state } };
      },
    },
    {
      method: 'GET',
      pattern: ['streams', ':stream', 'count'],
      operation: 'count',
      run: async ({ params }) => ({ status: 200, body: { stream: params.stream, count: await log.count(params.stream!) } }),
    },
    {
      method: 'GET',
      pattern: ['streams', ':stream'],
      operation: 'read',
      run: async ({ params, query }) => {
        const from = query.has('from') ? integerParam(query.get('from')!, 'from') : undefined;
        const events = [];
        for await (const event of log.read(params.stream!, { from, limit: limitOf(query), backwards: booleanParam(query, 'backwards') })) events.push(eventToJson(event));
        return { status: 200, body: { events } };
      },
    },
    {
      method: 'GET',
      pattern: ['all'],
      operation: 'readAll',
      run: async ({ query }) => {
        const from = query.has('from') ? integerParam(query.get('from')!, 'from') : 0;
        const events = [];
        for await (const event of log.readAll({ from, limit: limitOf(query), filter: filterOf(query) })) events.push(eventToJson(event));
        return { status: 200, body: { events } };
      },
    },
    {
      method: 'GET',
      pattern: ['head'],
      operation: 'headPosition',
      run: async () => ({ status: 200, body: { headPosition: await log.headPosition() } }),
    },
    {
      method: 'GET',
      pattern: ['subscribe'],
      operation: 'subscribe',
      run: async ({ req, res, query }) => {
        if (streams.size >= maxSseStreams) throw new LimitExceededError(`the server already has ${streams.size} event streams open, the limit is ${maxSseStreams}`);
        const subscription = log.subscribe({ from: fromOf(req, query), filter: filterOf(query), transient: booleanParam(query, 'transient') });
        streams.add(res);
        metrics.subscriptionOpened('sse');
        try {
          await streamEvents(req, res, subscription);
        } finally {
          streams.delete(res);
          metrics.subscriptionClosed('sse');
        }
        return 'streamed';
      },
    },
  ];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://ordo');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...CORS_HEADERS, 'access-control-max-age': '600' }).end();
      return;
    }
    // The console's files: no data in them, so no token (the page asks for one when the API does).
    if (req.method === 'GET' && options.console?.assets) {
      const name = url.pathname === '/' ? 'index.html' : url.pathname.startsWith('/console/') ? url.pathname.slice('/console/'.length) : undefined;
      const asset = name !== undefined ? options.console.assets.get(name) : undefined;
      if (asset) {
        res.writeHead(200, { 'content-type': asset.contentType, 'content-length': asset.body.length, 'cache-control': 'no-cache' }).end(asset.body);
        return;
      }
    }
    const match = findRoute(routes, req.method ?? 'GET', url.pathname);
    let operation = 'unknown';
    const transport = match && 'route' in match && match.route.operation === 'subscribe' ? 'sse' : 'http';
    metrics.connectionOpened(transport);
    try {
      if (!match) throw new HttpError(404, new InvalidArgumentError(`no route ${req.method} ${url.pathname}: see docs/http-api.md`));
      if ('allow' in match) throw new HttpError(405, new InvalidArgumentError(`${req.method} is not allowed on ${url.pathname}: use ${match.allow.join(' or ')}`), { allow: match.allow.join(', ') });
      const { route, params } = match;
      operation = route.operation;
      if (route.operation !== 'health' && route.operation !== 'whoami') {
        if (closing) throw new LogClosedError(route.operation);
        authorize(auth.authenticate(tokenOf(req, url.searchParams)), route.operation);
      }
      const reply = await route.run({ req, res, params, query: url.searchParams });
      if (reply !== 'streamed') send(res, reply.status, reply.body, reply.headers);
      metrics.request(operation, transport, 'ok');
    } catch (error) {
      const httpError = error instanceof HttpError ? error : undefined;
      const ordo = httpError?.error ?? (error instanceof OrdoError ? error : undefined);
      if (!ordo) logger.error({ err: error, operation, url: req.url }, 'HTTP request failed');
      let failure = ordo ?? new OrdoError('UNAVAILABLE', `internal error: ${(error as Error)?.message ?? String(error)}`);
      if (failure instanceof NotLeaderError && failure.leader !== undefined && failure.leaderUrl === undefined && options.peerUrls?.[failure.leader]) {
        failure = new NotLeaderError(operation, failure.leader, options.peerUrls[failure.leader]);
      }
      const status = httpError?.status ?? (ordo ? statusOf(ordo) : 500);
      const headers: Record<string, string> = { ...httpError?.headers };
      if (failure.code === 'UNAUTHENTICATED') headers['www-authenticate'] = 'Bearer';
      if (!res.headersSent) send(res, status, errorToJson(failure), headers);
      else res.end();
      metrics.request(operation, transport, failure.code);
    } finally {
      metrics.connectionClosed(transport);
    }
  };

  return {
    handle(req, res) {
      handle(req, res).catch((error: unknown) => {
        logger.error({ err: error }, 'HTTP handler failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
    },
    async close() {
      closing = true;
      for (const res of streams) res.end();
    },
  };
}

function findRoute(routes: Route[], method: string, pathname: string): { route: Route; params: Record<string, string> } | { allow: string[] } | undefined {
  const segments = pathname.split('/').filter((segment) => segment !== '');
  const allow: string[] = [];
  for (const route of routes) {
    const params = matchPattern(route.pattern, segments);
    if (!params) continue;
    if (route.method === method) return { route, params };
    allow.push(route.method);
  }
  return allow.length > 0 ? { allow } : undefined;
}

function matchPattern(pattern: string[], segments: string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const part = pattern[i]!;
    if (part.startsWith(':')) {
      try {
        params[part.slice(1)] = decodeURIComponent(segments[i]!);
      } catch {
        return undefined;
      }
    } else if (part !== segments[i]) {
      return undefined;
    }
  }
  return params;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...CORS_HEADERS, ...headers, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function tokenOf(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim();
  return query.get('token') ?? undefined;
}

function integerParam(text: string, name: string): number {
  const value = Number(text);
  if (text === '' || !Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(`invalid ${name} ${describe(text)}: expected an integer >= 0`);
  return value;
}

function booleanParam(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null || value === 'false' || value === '0') return false;
  if (value === '' || value === 'true' || value === '1') return true;
  throw new InvalidArgumentError(`invalid ${name} ${describe(value)}: expected true or false`);
}

function limitOf(query: URLSearchParams): number {
  if (!query.has('limit')) return DEFAULT_READ_LIMIT;
  const limit = integerParam(query.get('limit')!, 'limit');
  if (limit > MAX_READ_LIMIT) throw new InvalidArgumentError(`invalid limit ${limit}: expected at most ${MAX_READ_LIMIT} per request (page with from)`);
  return limit;
}

/** `Ordo-Expected-Count` header, else `?expected=`, else the body's `expected`. */
function expectedOf(req: IncomingMessage, query: URLSearchParams, fromBody: unknown): unknown {
  const text = (req.headers['ordo-expected-count'] as string | undefined) ?? query.get('expected') ?? undefined;
  if (text === undefined) return fromBody;
  return /^\d+$/.test(text) ? Number(text) : text;
}

function ackOf(query: URLSearchParams): AckMode | undefined {
  return (query.get('ack') as AckMode | null) ?? undefined;
}

function filterOf(query: URLSearchParams): Filter | undefined {
  const list = (name: string) => (query.has(name) ? query.get(name)!.split(',').filter((item) => item !== '') : undefined);
  const filter: Filter = {};
  const streams = list('streams');
  const prefixes = list('prefixes');
  const types = list('types');
  if (streams) filter.streams = streams;
  if (prefixes) filter.prefixes = prefixes;
  if (types) filter.types = types;
  return Object.keys(filter).length > 0 ? filter : undefined;
}

/** `Last-Event-ID` (EventSource reconnecting) wins: resume right after that position. */
function fromOf(req: IncomingMessage, query: URLSearchParams): 'start' | 'end' | number {
  const last = req.headers['last-event-id'];
  if (typeof last === 'string' && last !== '') return integerParam(last, 'Last-Event-ID') + 1;
  const from = query.get('from') ?? 'start';
  if (from === 'start' || from === 'end') return from;
  return integerParam(from, 'from');
}
