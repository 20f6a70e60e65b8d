import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { sendInMessages } from '../protocol/websocket.js';
import type { Wire } from './wire.js';

/**
 * A WebSocket as a Wire: each binary message holds one or more whole or partial frames (the
 * same bytes as on TCP). Drain is observed on the underlying socket, which ws writes into.
 */
export function wsWire(socket: WebSocket, raw: Duplex, remote: string): Wire {
  return {
    transport: 'ws',
    remote,
    write: (bytes) => sendInMessages((message) => socket.send(message, { binary: true }), bytes),
    get bufferedBytes() {
      return socket.bufferedAmount;
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    onceDrained: (listener) => void raw.once('drain', listener),
    end: () => socket.close(1000, 'server closing'),
    destroy: () => socket.terminate(),
  };
}
