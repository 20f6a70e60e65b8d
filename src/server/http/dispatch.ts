import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { InvalidArgumentError, LogClosedError, OrdoError } from '../../types/errors.js';
import { authorize, type Authenticator } from '../auth.js';
import type { ConsoleAsset } from '../console-assets.js';
import { HttpError, errorToJson, statusOf } from '../http-json.js';
import { withLeaderUrl } from '../leader-url.js';
import type { ServerMetrics } from '../metrics.js';
import { serveConsoleAsset } from './console.js';
import { tokenOf } from './params.js';
import type { Route, RouteOperation } from './route.js';
import { findRoute, type RouteMatch } from './router.js';
import { answerPreflight, send } from './reply.js';

export interface DispatcherOptions {
  routes: readonly Route[];
  auth: Authenticator;
  metrics: ServerMetrics;
  logger: Logger;
  /** In a cluster: each node's binary protocol URL (NOT_LEADER answers name the leader's). */
  peerUrls: Readonly<Record<string, string>> | undefined;
  /** The web console's files, served before any route; undefined when it is not built. */
  consoleAssets: ReadonlyMap<string, ConsoleAsset> | undefined;
  /** True once the API is shutting down: requests other than health and whoami get LOG_CLOSED. */
  isClosing(): boolean;
}

type Transport = 'http' | 'sse';
type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;
type RouteAndParams = { route: Route; params: Record<string, string> };

/**
 * One request, start to end: CORS preflight, the console's files, then the route for the
 * method and path, behind the token check, with its answer or its error as JSON and a metric.
 */
export function createDispatcher(options: DispatcherOptions): RequestHandler {
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://ordo');
    if (req.method === 'OPTIONS') {
      answerPreflight(res);
      return;
    }
    if (req.method === 'GET' && serveConsoleAsset(options.consoleAssets, url.pathname, res)) return;
    await runRoute(options, req, res, url);
  };
}

async function runRoute(
  options: DispatcherOptions,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const { metrics } = options;
  const match = findRoute(options.routes, req.method ?? 'GET', url.pathname);
  let operation = 'unknown';
  const isSubscription = match !== undefined && 'route' in match && match.route.operation === 'subscribe';
  const transport: Transport = isSubscription ? 'sse' : 'http';
  metrics.connectionOpened(transport);
  try {
    const { route, params } = routeOf(match, req, url.pathname);
    operation = route.operation;
    checkAccess(options, route.operation, req, url.searchParams);
    const reply = await route.run({ req, res, params, query: url.searchParams });
    if (reply !== 'streamed') send(res, reply.status, reply.body, reply.headers);
    metrics.request(operation, transport, 'ok');
  } catch (error) {
    metrics.request(operation, transport, answerError(options, req, res, operation, error));
  } finally {
    metrics.connectionClosed(transport);
  }
}

/** The matched route, or the 404 / 405 to answer. */
function routeOf(match: RouteMatch, req: IncomingMessage, pathname: string): RouteAndParams {
  if (!match) {
    throw new HttpError(404, new InvalidArgumentError(`no route ${req.method} ${pathname}: see docs/http-api.md`));
  }
  if ('allow' in match) {
    const uses = match.allow.join(' or ');
    const refusal = new InvalidArgumentError(`${req.method} is not allowed on ${pathname}: use ${uses}`);
    throw new HttpError(405, refusal, { allow: match.allow.join(', ') });
  }
  return match;
}

/** Health and whoami are open (whoami checks the token itself); the rest need a token allowed the operation. */
function checkAccess(
  options: DispatcherOptions,
  operation: RouteOperation,
  req: IncomingMessage,
  query: URLSearchParams,
): void {
  if (operation === 'health' || operation === 'whoami') return;
  if (options.isClosing()) throw new LogClosedError(operation);
  authorize(options.auth.authenticate(tokenOf(req, query)), operation);
}

/** Answers a failed request with its error as JSON (or ends a response under way); returns the error's code. */
function answerError(
  options: DispatcherOptions,
  req: IncomingMessage,
  res: ServerResponse,
  operation: string,
  error: unknown,
): string {
  const httpError = error instanceof HttpError ? error : undefined;
  const ordo = httpError?.error ?? (error instanceof OrdoError ? error : undefined);
  if (!ordo) options.logger.error({ err: error, operation, url: req.url }, 'HTTP request failed');
  const failure = withLeaderUrl(ordo ?? internalError(error), operation, options.peerUrls);
  const status = httpError?.status ?? (ordo ? statusOf(ordo) : 500);
  const headers: Record<string, string> = { ...httpError?.headers };
  if (failure.code === 'UNAUTHENTICATED') headers['www-authenticate'] = 'Bearer';
  if (!res.headersSent) send(res, status, errorToJson(failure), headers);
  else res.end();
  return failure.code;
}

function internalError(error: unknown): OrdoError {
  return new OrdoError('UNAVAILABLE', `internal error: ${(error as Error)?.message ?? String(error)}`);
}
