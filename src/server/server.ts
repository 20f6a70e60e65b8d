import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { pino, type Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { open, type OrdoNode, type OpenOptions } from '../node/index.js';
import { openAccess, type Authenticator } from './auth.js';
import { BinaryConnection } from './binary-connection.js';
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './session-options.js';
import { createHttpApi, type HttpApi } from './http-api.js';
import { createServerMetrics, type ServerMetrics } from './metrics.js';
import { startHosted, type HostedPatterns } from './hosted.js';
import { loadConsoleAssets } from './console-assets.js';
import { createConsoleStats } from './console-stats.js';
import type { AnyModelDefinition, ConsumerOptions } from '../patterns/index.js';
import { TcpPeerTransport } from './peer-transport.js';
import { InvalidArgumentError } from '../types/errors.js';
import { tcpWire } from './tcp-wire.js';
import { wsWire } from './ws-wire.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_TCP_PORT = 4680;
export const DEFAULT_HTTP_PORT = 4681;
/** The path on the HTTP server where WebSocket clients connect. */
export const WEBSOCKET_PATH = '/ws';
/** How long a graceful shutdown waits for in-flight requests before closing anyway. */
const SHUTDOWN_GRACE_MS = 5_000;
/** A whole HTTP request (headers and body) must arrive within this. */
const REQUEST_TIMEOUT_MS = 60_000;
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
  log?: OpenOptions;
  /** Name sent to clients in the handshake. */
  name?: string;
  /** Models to keep hot and snapshot, served at GET /models/:name (`ordo serve --models`). */
  models?: readonly AnyModelDefinition[];
  /** Consumers to run next to the log (`ordo serve --consumers`; single node only). */
  consumers?: readonly ConsumerOptions[];
  /**
   * Run as one node of a Raft cluster: `peers` maps every node id (this one included) to the
   * host:port of its binary protocol, where the nodes also talk to each other. `token` is sent
   * to the peers (an admin token when they use an auth file).
   */
  cluster?: {
    id: string;
    peers: Record<string, { host: string; port: number }>;
    token?: string;
    tickMs?: number;
    voters?: string[];
    windowEntries?: number;
    /** The URL a NOT_LEADER answer sends clients to, per node (default: ordo://<its peer address>). */
    advertise?: Record<string, string>;
  };
}

export interface OrdoServer {
  readonly log: OrdoNode;
  readonly metrics: ServerMetrics;
  readonly hosted: HostedPatterns;
  /** Where clients connect: `ordo://` (or `ordos://`), `ws://` (or `wss://`), `http://` (or `https://`). */
  readonly urls: { tcp: string; ws: string; http: string };
  /** Graceful shutdown: stop accepting, answer or fail in-flight requests, fsync, close. */
  close(): Promise<void>;
}

/**
 * Opens the log in `dir` and serves it: the binary protocol on TCP and over WebSocket, and the
 * HTTP+JSON+SSE API, all with the same auth, limits and metrics.
 */
export async function startServer(options: ServerOptions): Promise<OrdoServer> {
  const host = options.host ?? DEFAULT_HOST;
  const logger = options.logger ?? pino({ name: 'ordo' });
  const auth = options.auth ?? openAccess;
  // The wire decoder checks event sizes against the log's own limit, so both paths refuse alike.
  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, maxEventBytes: options.log?.maxEventBytes ?? DEFAULT_CONNECTION_LIMITS.maxEventBytes, ...options.limits };
  let transport: TcpPeerTransport | undefined;
  let logOptions = options.log;
  let peerUrls: Record<string, string> | undefined;
  if (options.cluster) {
    const { id, peers, token } = options.cluster;
    transport = new TcpPeerTransport(id, peers, token ?? '', logger);
    peerUrls = Object.fromEntries(Object.entries(peers).map(([peer, a]) => [peer, options.cluster!.advertise?.[peer] ?? `${options.tls ? 'ordos' : 'ordo'}://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`]));
    logOptions = {
      ...options.log,
      cluster: {
        id,
        peers: options.cluster.voters ?? Object.keys(peers),
        transport,
        tickMs: options.cluster.tickMs,
        windowEntries: options.cluster.windowEntries,
        onRoleChange: (status) => logger.info({ node: id, role: status.role, term: status.term, leader: status.leader || undefined }, 'raft role'),
        onSnapshot: (event) => {
          if (event.kind === 'failed') logger.warn({ node: id, ...event }, 'snapshot transfer given up (it is offered again)');
          else logger.info({ node: id, ...event }, event.kind === 'offered' ? 'snapshot offered to %s' : 'snapshot from %s installed', event.peer);
        },
      },
    };
  }
  if (options.cluster && (options.consumers?.length ?? 0) > 0) {
    // A consumer's checkpoints are appends: on a follower they fail, and two nodes would fence each other.
    throw new InvalidArgumentError('hosted consumers run on a single node only: run them as clients of the cluster (consume(await connect(urls), …))');
  }
  const log = await open(options.dir, logOptions);
  if (transport) transport.onUnreachable = (peer) => log.reportUnreachable(peer);
  const metrics = createServerMetrics(log);
  let hosted: HostedPatterns;
  try {
    hosted = await startHosted(log, { models: options.models ?? [], consumers: options.consumers ?? [] }, metrics.registry, logger);
  } catch (error) {
    await log.close();
    throw error;
  }
  const sessionOptions = { log, auth, metrics, logger, limits, serverName: options.name ?? 'ordo', peerUrls };
  const sessions = new Set<BinaryConnection>();
  const sockets = new Set<Socket>();

  const serve = (session: BinaryConnection, transport: 'tcp' | 'ws'): (() => void) => {
    sessions.add(session);
    metrics.connectionOpened(transport);
    return () => {
      if (!sessions.delete(session)) return;
      session.closed();
      metrics.connectionClosed(transport);
    };
  };

  const onTcpConnection = (socket: Socket): void => {
    sockets.add(socket);
    const session = new BinaryConnection(tcpWire(socket), sessionOptions);
    const end = serve(session, 'tcp');
    socket.on('data', (chunk: Buffer) => session.receive(chunk));
    socket.on('error', (error) => logger.debug({ err: error }, 'tcp connection error'));
    socket.on('close', () => {
      sockets.delete(socket);
      end();
    });
  };
  const tcp: TcpServer = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, onTcpConnection) : createTcpServer(onTcpConnection);

  const consoleAssets = await loadConsoleAssets();
  if (!consoleAssets) logger.warn('the web console is not built (npm run build): / answers 404');
  const consoleStats = createConsoleStats(log, metrics, hosted, peerUrls ?? {});
  const api: HttpApi = createHttpApi({ log, auth, metrics, logger, maxBodyBytes: undefined, peerUrls, models: hosted.models, console: { assets: consoleAssets, stats: consoleStats } });
  const handler = (req: Parameters<HttpApi['handle']>[0], res: Parameters<HttpApi['handle']>[1]) => api.handle(req, res);
  // Slowloris: headers must arrive within the handshake timeout, a whole request body within
  // REQUEST_TIMEOUT_MS (a response, such as an SSE stream, may last as long as it likes).
  const httpOptions = { headersTimeout: limits.handshakeTimeoutMs, requestTimeout: Math.max(REQUEST_TIMEOUT_MS, limits.handshakeTimeoutMs), connectionsCheckingInterval: Math.min(1_000, limits.handshakeTimeoutMs) };
  const http: HttpServer = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, ...httpOptions }, handler) : createHttpServer(httpOptions, handler);
  http.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxFrameBytes, perMessageDeflate: false });
  http.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== WEBSOCKET_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new BinaryConnection(wsWire(ws, socket, `${req.socket.remoteAddress}:${req.socket.remotePort}`), sessionOptions);
      const end = serve(session, 'ws');
      ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
        if (Array.isArray(data)) for (const chunk of data) session.receive(chunk);
        else session.receive(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
      });
      ws.on('error', (error) => logger.debug({ err: error }, 'websocket error'));
      ws.on('close', end);
    });
  });

  try {
    await listen(tcp, options.port ?? DEFAULT_TCP_PORT, host);
    await listen(http, options.httpPort ?? DEFAULT_HTTP_PORT, host);
  } catch (error) {
    tcp.close();
    http.close();
    await hosted.close();
    await log.close();
    throw error;
  }
  const tcpPort = (tcp.address() as AddressInfo).port;
  const httpPort = (http.address() as AddressInfo).port;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  const secure = options.tls !== undefined;
  const urls = {
    tcp: `${secure ? 'ordos' : 'ordo'}://${hostInUrl}:${tcpPort}`,
    ws: `${secure ? 'wss' : 'ws'}://${hostInUrl}:${httpPort}${WEBSOCKET_PATH}`,
    http: `${secure ? 'https' : 'http'}://${hostInUrl}:${httpPort}`,
  };
  logger.info({ dir: log.dir, urls, auth: auth.required, tls: secure }, 'ordo server listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      logger.info('shutting down');
      tcp.close();
      http.close();
      await api.close();
      http.closeIdleConnections(); // keep-alive HTTP sockets with no request in progress
      await Promise.all([...sessions].map((session) => session.shutdown(SHUTDOWN_GRACE_MS)));
      wss.close();
      // Sessions ended their sockets after flushing; give the last bytes a moment to leave.
      const deadline = Date.now() + SOCKET_LINGER_MS;
      while (sockets.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      for (const socket of sockets) socket.destroy();
      await hosted.close();
      await log.close();
      logger.info('closed');
    })());

  return { log, metrics, hosted, urls, close };
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
