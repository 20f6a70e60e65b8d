import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { UnavailableError } from '../types/errors.js';
import type { ClientTransport, TransportFactory } from './transport.js';

/** Binary frames over TCP (`ordo://`) or TLS (`ordos://`); Node only. */
export function tcpTransport(tls: ConnectionOptions = {}): TransportFactory {
  return (url, handlers) =>
    new Promise<ClientTransport>((resolve, reject) => {
      const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      const port = Number(url.port);
      const secure = url.protocol === 'ordos:';
      let opened = false;
      const socket: Socket = secure
        ? tlsConnect({ ...tls, host, port, servername: tls.servername ?? host })
        : netConnect({ host, port });
      socket.setNoDelay(true);
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        opened = true;
        resolve({
          send: (bytes) => void socket.write(bytes),
          close: () => void socket.end(),
        });
      });
      socket.on('data', (chunk: Buffer) => handlers.onData(chunk));
      let failure: Error | undefined;
      socket.on('error', (error) => {
        failure = new UnavailableError(`${url.protocol}//${url.host}: ${error.message}`, error);
        if (!opened) reject(failure);
      });
      socket.on('close', () => {
        if (opened) handlers.onClose(failure);
        else reject(failure ?? new UnavailableError(`${url.protocol}//${url.host}: closed before connecting`));
      });
    });
}
