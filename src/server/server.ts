import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Server as TcpServer } from 'node:net';
import { pino, type Logger } from 'pino';
import type { WebSocketServer } from 'ws';
import { open, type OpenReport, type OrdoNode, type OpenOptions } from '../node/index.js';
import type { AnyModelDefinition, ConsumerOptions } from '../patterns/index.js';
import { InvalidArgumentError, type StorageFailedError } from '../types/errors.js';
import { openAccess, type Authenticator } from './auth.js';
import { setUpCluster, type ClusterSetup, type ServerClusterOptions } from './cluster-setup.js';
import { loadConsoleAssets } from './console-assets.js';
import { createConsoleStats } from './console-stats.js';
import { startHosted, type HostedPatterns } from './hosted.js';
import { createHttpApi, type HttpApi } from './http-api.js';
import { createHttpListener } from './http-listener.js';
import { createServerMetrics, type ServerMetrics } from './metrics.js';
import { OpenConnections } from './open-connections.js';
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits, type SessionOptions } from './session-options.js';
import { createTcpListener } from './tcp-listener.js';
import { serverUrls, type ServerUrls } from './urls.js';

export { WEBSOCKET_PATH } from './urls.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_TCP_PORT = 4680;
export const DEFAULT_HTTP_PORT = 4681;
/** How long a graceful shutdown waits for in-flight requests before closing anyway. */
const SHUTDOWN_GRACE_MS = 5_000;
/** How long closed connections may take to send their last bytes before they are cut. */
const SOCKET_LINGER_MS = 1_000;

export interface ServerOptions {
  dir: string;
  /** Default 127.0.0.1: a server is reachable from elsewhere only if asked to be. */
  host?: string;
  /** Binary protocol over TCP; 0 picks a free port. Default 4680. */
  port?: number;
  /** HTTP API, SSE and WebSocket; 0 picks a free port. Default 4681. */
  httpPort?: number;
  auth?: Authenticator;
  /** PEM certificate and key: TCP becomes TLS, HTTP becomes HTTPS (and ws → wss). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  logger?: Logger;
  limits?: Partial<ConnectionLimits>;
  /** Options of the embedded log the server serves (fsync policy…). */
  log?: OpenOptions | undefined;
  /** Name sent to clients in the handshake. */
  name?: string;
  /** Models to keep hot and snapshot, served at GET /models/:name (`ordo serve --models`). */
  models?: readonly AnyModelDefinition[];
  /** Consumers to run next to the log (`ordo serve --consumers`; single node only). */
  consumers?: readonly ConsumerOptions[];
  /** Run as one node of a Raft cluster (see ServerClusterOptions). */
  cluster?: ServerClusterOptions;
  /**
   * Called once the node stopped because its storage failed (a failed fdatasync or write),
   * after the server shut down: `ordo serve` exits non-zero.
   */
  onStopped?: (error: StorageFailedError) => void;
}

export interface OrdoServer {
  readonly log: OrdoNode;
  readonly metrics: ServerMetrics;
  readonly hosted: HostedPatterns;
  /** Where clients connect: `ordo://` (or `ordos://`), `ws://` (or `wss://`), `http://` (or `https://`). */
  readonly urls: ServerUrls;
  /** Graceful shutdown: stop accepting, answer or fail in-flight requests, fsync, close. */
  close(): Promise<void>;
}

/** What open repaired or upgraded on disk, for the operator: each cut with its file, offset and bytes. */
function logOpenRecovery(logger: Logger, report: OpenReport): void {
  for (const cut of report.truncations) logger.warn(cut, 'open cut a torn tail (never acknowledged)');
  for (const cut of report.damageCuts)
    logger.error(cut, 'open cut the log at damage: recovering the rest from the leader');
  if (report.upgradedSegments > 0) {
    logger.info({ segments: report.upgradedSegments }, 'open upgraded segments to the current format');
  }
}

/**
 * Opens the log in `dir` and serves it: the binary protocol on TCP and over WebSocket, and the
 * HTTP+JSON+SSE API, all with the same auth, limits and metrics.
 */
export async function startServer(options: ServerOptions): Promise<OrdoServer> {
  const host = options.host ?? DEFAULT_HOST;
  const logger = options.logger ?? pino({ name: 'ordo' });
  const auth = options.auth ?? openAccess;
  const limits = connectionLimits(options);
  const secure = options.tls !== undefined;
  if (options.cluster && (options.consumers?.length ?? 0) > 0) {
    // A consumer's checkpoints are appends: on a follower they fail, and two nodes would fence each other.
    const instead = 'run them as clients of the cluster (consume(await connect(urls), …))';
    throw new InvalidArgumentError(`hosted consumers run on a single node only: ${instead}`);
  }
  const cluster = options.cluster ? setUpCluster(options.cluster, options.log, secure, logger) : undefined;
  const log = await openOrCloseTransport(options, cluster);
  logOpenRecovery(logger, log.openReport);
  if (cluster) cluster.transport.onUnreachable = (peer) => log.reportUnreachable(peer);
  log.onDamage = (damage) =>
    logger.error({ damage, advice: log.status().scrub.advice }, 'damaged batch in a sealed segment');
  const metrics = createServerMetrics(log);
  const hosted = await startHostedOrClose(log, options, metrics, logger);
  const peerUrls = cluster?.peerUrls;
  const serverName = options.name ?? 'ordo';
  const sessionOptions: SessionOptions = { log, auth, metrics, logger, limits, serverName, peerUrls };
  const connections = new OpenConnections(metrics);
  const tcp = createTcpListener({ tls: options.tls, sessionOptions, connections, logger });
  const api = await createServerHttpApi({ log, auth, metrics, logger, peerUrls, hosted });
  const { http, wss } = createHttpListener({ tls: options.tls, api, sessionOptions, connections, logger });
  await listenOrClose(tcp, http, options, host, async () => {
    await hosted.close();
    await log.close();
  });
  const urls = serverUrls(host, (tcp.address() as AddressInfo).port, (http.address() as AddressInfo).port, secure);
  logger.info({ dir: log.dir, urls, auth: auth.required, tls: secure }, 'ordo server listening');
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= shutdown({ logger, tcp, http, wss, api, connections, hosted, log }));
  log.onStopped((error) => {
    logger.fatal({ err: error, dir: log.dir }, `the node stopped: ${error.message}`);
    const stopped = () => options.onStopped?.(error);
    close().then(stopped, stopped);
  });
  return { log, metrics, hosted, urls, close };
}

/** Opens the log; if that fails, the peer transport (which dials its peers from the start) is closed too. */
async function openOrCloseTransport(options: ServerOptions, cluster: ClusterSetup | undefined): Promise<OrdoNode> {
  try {
    return await open(options.dir, cluster ? cluster.logOptions : options.log);
  } catch (error) {
    await cluster?.transport.close();
    throw error;
  }
}

/** The limits of every connection; the event size limit is the log's own unless set. */
function connectionLimits(options: ServerOptions): ConnectionLimits {
  // The wire decoder checks event sizes against the log's own limit, so both paths refuse alike.
  const maxEventBytes = options.log?.maxEventBytes ?? DEFAULT_CONNECTION_LIMITS.maxEventBytes;
  return { ...DEFAULT_CONNECTION_LIMITS, maxEventBytes, ...options.limits };
}

/** The hosted models and consumers; the log is closed again if one fails to start. */
async function startHostedOrClose(
  log: OrdoNode,
  options: ServerOptions,
  metrics: ServerMetrics,
  logger: Logger,
): Promise<HostedPatterns> {
  const patterns = { models: options.models ?? [], consumers: options.consumers ?? [] };
  try {
    return await startHosted(log, patterns, metrics.registry, logger);
  } catch (error) {
    await log.close();
    throw error;
  }
}

/** The HTTP API with the web console (its files when built, and its live feed). */
async function createServerHttpApi(parts: {
  log: OrdoNode;
  auth: Authenticator;
  metrics: ServerMetrics;
  logger: Logger;
  peerUrls: Record<string, string> | undefined;
  hosted: HostedPatterns;
}): Promise<HttpApi> {
  const { log, auth, metrics, logger, peerUrls, hosted } = parts;
  const assets = await loadConsoleAssets();
  if (!assets) logger.warn('the web console is not built (npm run build): / answers 404');
  const stats = createConsoleStats(log, metrics, hosted, peerUrls ?? {});
  return createHttpApi({ log, auth, metrics, logger, peerUrls, models: hosted.models, console: { assets, stats } });
}

/** Starts both listeners; if either cannot listen, closes both and calls `release` before rethrowing. */
async function listenOrClose(
  tcp: TcpServer,
  http: HttpServer,
  options: ServerOptions,
  host: string,
  release: () => Promise<void>,
): Promise<void> {
  try {
    await listen(tcp, options.port ?? DEFAULT_TCP_PORT, host);
    await listen(http, options.httpPort ?? DEFAULT_HTTP_PORT, host);
  } catch (error) {
    tcp.close();
    http.close();
    await release();
    throw error;
  }
}

/**
 * Graceful shutdown: stop accepting, end event streams and sessions (in-flight requests get
 * SHUTDOWN_GRACE_MS to be answered), cut the sockets that linger, then close the log.
 */
async function shutdown(parts: {
  logger: Logger;
  tcp: TcpServer;
  http: HttpServer;
  wss: WebSocketServer;
  api: HttpApi;
  connections: OpenConnections;
  hosted: HostedPatterns;
  log: OrdoNode;
}): Promise<void> {
  const { logger, tcp, http, wss, api, connections, hosted, log } = parts;
  logger.info('shutting down');
  tcp.close();
  http.close();
  await api.close();
  http.closeIdleConnections(); // keep-alive HTTP sockets with no request in progress
  await connections.shutdown(SHUTDOWN_GRACE_MS);
  wss.close();
  // Sessions ended their sockets after flushing; give the last bytes a moment to leave.
  await connections.cutLingering(SOCKET_LINGER_MS);
  await hosted.close();
  await log.close();
  logger.info('closed');
}

function listen(server: TcpServer | HttpServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
