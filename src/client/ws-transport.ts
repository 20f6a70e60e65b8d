import { sendInMessages } from '../protocol/websocket.js';
import { UnavailableError } from '../types/errors.js';
import type { ClientTransport, TransportFactory } from './transport.js';

/** The part of the WebSocket API the client uses: the browser's, or the `ws` package's. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Binary frames over WebSocket; each message carries whatever the session coalesced in one turn. */
export function webSocketTransport(WebSocketClass: WebSocketConstructor): TransportFactory {
  return (url, handlers) =>
    new Promise<ClientTransport>((resolve, reject) => {
      const socket = new WebSocketClass(url.href);
      socket.binaryType = 'arraybuffer';
      let opened = false;
      let failure: Error | undefined;
      socket.onopen = () => {
        opened = true;
        resolve({
          send: (bytes) => sendInMessages((message) => socket.send(message), bytes),
          close: () => socket.close(1000),
        });
      };
      socket.onmessage = (event) => {
        const data = event.data;
        if (data instanceof ArrayBuffer) handlers.onData(new Uint8Array(data));
        else if (data instanceof Uint8Array) handlers.onData(data);
      };
      socket.onerror = (event) => {
        failure = new UnavailableError(
          `WebSocket ${url.href} failed: ${(event as { message?: string })?.message ?? 'connection error'}`,
        );
      };
      socket.onclose = (event) => {
        if (!opened) {
          reject(failure ?? new UnavailableError(`WebSocket ${url.href} closed before opening (code ${event.code})`));
          return;
        }
        handlers.onClose(
          event.code === 1000
            ? undefined
            : (failure ?? new UnavailableError(`WebSocket closed with code ${event.code} ${event.reason}`)),
        );
      };
    });
}
