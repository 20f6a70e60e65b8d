import type { ConnectionOptions } from 'node:tls';
import { WebSocket as NodeWebSocket } from 'ws';
import { RemoteEventLog, type ConnectOptions } from './remote-log.js';
import { tcpTransport } from './tcp-transport.js';
import type { TransportFactory } from './transport.js';
import { parseUrls } from './urls.js';
import { webSocketTransport, type WebSocketConstructor } from './ws-transport.js';

export interface NodeConnectOptions extends ConnectOptions {
  /** TLS options for `ordos://` and `wss://` (e.g. `ca` for a self-signed server certificate). */
  tls?: ConnectionOptions;
}

/**
 * Connects to an Ordo server (or a cluster: give every node) and returns the same `EventLog`
 * interface `open()` does. `ordo://host:4680` speaks the binary protocol over TCP, `ordos://`
 * over TLS, `ws://host:4681/ws` over WebSocket.
 *
 *   const log = await connect('ordo://127.0.0.1:4680', { token })
 */
export async function connect(urls: string | string[], options: NodeConnectOptions = {}): Promise<RemoteEventLog> {
  const parsed = parseUrls(urls);
  const tcp = tcpTransport(options.tls);
  const ws = webSocketTransport(webSocketClass(options.tls));
  const transportFor = (url: URL): TransportFactory => (url.protocol === 'ws:' || url.protocol === 'wss:' ? ws : tcp);
  const log = new RemoteEventLog(parsed, transportFor, options);
  await log.start();
  return log;
}

function webSocketClass(tls: ConnectionOptions | undefined): WebSocketConstructor {
  return class extends NodeWebSocket {
    constructor(url: string) {
      super(url, { ...tls, perMessageDeflate: false });
    }
  } as unknown as WebSocketConstructor;
}
