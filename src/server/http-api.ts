import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { OrdoNode } from '../node/index.js';
import type { Model } from '../patterns/index.js';
import type { Authenticator } from './auth.js';
import { appendRoutes } from './http/appends.js';
import { clusterRoutes } from './http/cluster.js';
import { consoleRoutes, type HttpConsole } from './http/console.js';
import { createDispatcher } from './http/dispatch.js';
import { healthRoutes } from './http/health.js';
import { storageRoutes } from './http/storage.js';
import { metricsRoutes } from './http/metrics.js';
import { modelRoutes } from './http/models.js';
import { readRoutes } from './http/reads.js';
import type { Route } from './http/route.js';
import { streamLifecycleRoutes } from './http/stream-lifecycle.js';
import { subscribeRoutes } from './http/subscribe.js';
import { whoamiRoutes } from './http/whoami.js';
import type { ServerMetrics } from './metrics.js';

export interface HttpApiOptions {
  log: OrdoNode;
  auth: Authenticator;
  metrics: ServerMetrics;
  logger: Logger;
  /** Largest accepted request body; larger gets 413. Default 4 MiB. */
  maxBodyBytes?: number | undefined;
  /** Open SSE streams at most, server-wide; more get 429. Default 1024. */
  maxSseStreams?: number | undefined;
  /** In a cluster: each node's binary protocol URL (answers name the leader's). */
  peerUrls?: Readonly<Record<string, string>> | undefined;
  /** Models the server hosts (`ordo serve --models`), served at GET /models/:name. */
  models?: ReadonlyMap<string, Model<unknown>> | undefined;
  /** The web console: its files (GET / and /console/*) and its live feed (GET /console/stats). */
  console?: HttpConsole | undefined;
}

export interface HttpApi {
  /** Handles every request whose path is not `/ws` (the WebSocket upgrade is handled elsewhere). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Ends every open SSE stream (graceful shutdown) and answers new requests with 503. */
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_SSE_STREAMS = 1024;

/**
 * The HTTP+JSON+SSE API (docs/http-api.md), for curl, scripts and browsers: the same log, auth
 * and errors as the binary protocol, with JSON bodies and status codes.
 */
export function createHttpApi(options: HttpApiOptions): HttpApi {
  const { log, auth, metrics, logger, peerUrls } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxSseStreams = options.maxSseStreams ?? DEFAULT_MAX_SSE_STREAMS;
  const streams = new Set<ServerResponse>();
  let closing = false;
  const isClosing = () => closing;
  // The order matters only to a 405's list of allowed methods, which follows it.
  const routes: Route[] = [
    ...healthRoutes(log, isClosing),
    ...clusterRoutes(log, peerUrls, maxBodyBytes),
    ...storageRoutes(log),
    ...metricsRoutes(metrics),
    ...appendRoutes(log, maxBodyBytes),
    ...readRoutes(log),
    ...streamLifecycleRoutes(log, maxBodyBytes),
    ...whoamiRoutes(auth),
    ...consoleRoutes(options.console, streams),
    ...modelRoutes(options.models),
    ...subscribeRoutes({ log, metrics, streams, maxSseStreams }),
  ];
  const consoleAssets = options.console?.assets;
  const dispatch = createDispatcher({ routes, auth, metrics, logger, peerUrls, consoleAssets, isClosing });
  return {
    handle(req, res) {
      dispatch(req, res).catch((error: unknown) => {
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
