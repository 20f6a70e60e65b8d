import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { BinaryConnection } from './binary-connection.js';
import type { OpenConnections } from './open-connections.js';
import type { SessionOptions } from './session-options.js';
import { tcpWire } from './tcp-wire.js';

export interface TcpListenerOptions {
  /** PEM certificate and key: the listener speaks TLS. */
  tls: { cert: string | Buffer; key: string | Buffer } | undefined;
  sessionOptions: SessionOptions;
  connections: OpenConnections;
  logger: Logger;
}

/** The binary protocol over TCP (or TLS): one BinaryConnection per socket. Not listening yet. */
export function createTcpListener({ tls, sessionOptions, connections, logger }: TcpListenerOptions): TcpServer {
  const onConnection = (socket: Socket): void => {
    connections.track(socket);
    const connection = new BinaryConnection(tcpWire(socket), sessionOptions);
    const end = connections.serve(connection, 'tcp');
    socket.on('data', (chunk: Buffer) => connection.receive(chunk));
    socket.on('error', (error) => logger.debug({ err: error }, 'tcp connection error'));
    socket.on('close', () => {
      connections.untrack(socket);
      end();
    });
  };
  return tls ? createTlsServer({ cert: tls.cert, key: tls.key }, onConnection) : createTcpServer(onConnection);
}
