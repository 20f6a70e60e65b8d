import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { BinaryConnection } from './binary-connection.js';
import type { HttpApi } from './http-api.js';
import type { OpenConnections } from './open-connections.js';
import type { SessionOptions } from './session-options.js';
import { WEBSOCKET_PATH } from './urls.js';
import { wsWire } from './ws-wire.js';

/** A whole HTTP request (headers and body) must arrive within this. */
const REQUEST_TIMEOUT_MS = 60_000;
/** How often Node checks the requests' timeouts, at most. */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

export interface HttpListenerOptions {
  /** PEM certificate and key: HTTPS (and wss). */
  tls: { cert: string | Buffer; key: string | Buffer } | undefined;
  api: HttpApi;
  sessionOptions: SessionOptions;
  connections: OpenConnections;
  logger: Logger;
}

export interface HttpListener {
  http: HttpServer;
  wss: WebSocketServer;
}

/** The HTTP API, and the binary protocol over WebSocket at WEBSOCKET_PATH. Not listening yet. */
export function createHttpListener(options: HttpListenerOptions): HttpListener {
  const { tls, api, sessionOptions, connections } = options;
  const handshakeTimeoutMs = sessionOptions.limits.handshakeTimeoutMs;
  const handler = (req: IncomingMessage, res: ServerResponse) => api.handle(req, res);
  // Slowloris: headers must arrive within the handshake timeout, a whole request body within
  // REQUEST_TIMEOUT_MS (a response, such as an SSE stream, may last as long as it likes).
  const httpOptions = {
    headersTimeout: handshakeTimeoutMs,
    requestTimeout: Math.max(REQUEST_TIMEOUT_MS, handshakeTimeoutMs),
    connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_INTERVAL_MS, handshakeTimeoutMs),
  };
  const http: HttpServer = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key, ...httpOptions }, handler)
    : createHttpServer(httpOptions, handler);
  http.on('connection', (socket: Socket) => {
    connections.track(socket);
    socket.on('close', () => connections.untrack(socket));
  });
  const maxPayload = sessionOptions.limits.maxFrameBytes;
  const wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false });
  http.on('upgrade', (req, socket, head) => upgrade(options, wss, req, socket, head));
  return { http, wss };
}

/** A WebSocket upgrade: at WEBSOCKET_PATH a binary-protocol connection, elsewhere 404. */
function upgrade(
  options: HttpListenerOptions,
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  const { sessionOptions, connections, logger } = options;
  const path = (req.url ?? '').split('?')[0];
  if (path !== WEBSOCKET_PATH) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const connection = new BinaryConnection(wsWire(ws, socket, remote), sessionOptions);
    const end = connections.serve(connection, 'ws');
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      if (Array.isArray(data)) for (const chunk of data) connection.receive(chunk);
      else connection.receive(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
    });
    ws.on('error', (error) => logger.debug({ err: error }, 'websocket error'));
    ws.on('close', end);
  });
}
