import type { Socket } from 'node:net';
import type { Wire } from './wire.js';

/** A TCP (or TLS) socket as a Wire. Nagle is off: the session coalesces its own writes per turn. */
export function tcpWire(socket: Socket): Wire {
  socket.setNoDelay(true);
  return {
    transport: 'tcp',
    remote: `${socket.remoteAddress}:${socket.remotePort}`,
    write: (bytes) => void socket.write(bytes),
    get bufferedBytes() {
      return socket.writableLength;
    },
    pause: () => void socket.pause(),
    resume: () => void socket.resume(),
    onceDrained: (listener) => void socket.once('drain', listener),
    end: () => void socket.end(),
    destroy: () => void socket.destroy(),
  };
}
