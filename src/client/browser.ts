/**
 * `ordo/client`: the client for browsers (and any runtime with a global WebSocket). It imports
 * no Node built-in: only the protocol, the shared types and WebSocket.
 *
 *   import { connect } from 'ordo/client'
 *   const log = await connect('ws://127.0.0.1:4681/ws')
 */
import { InvalidArgumentError } from '../types/errors.js';
import { RemoteEventLog, type ConnectOptions } from './remote-log.js';
import { parseUrls } from './urls.js';
import { webSocketTransport, type WebSocketConstructor } from './ws-transport.js';

export interface BrowserConnectOptions extends ConnectOptions {
  /** The WebSocket class to use; default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor | undefined;
}

export async function connect(urls: string | string[], options: BrowserConnectOptions = {}): Promise<RemoteEventLog> {
  const parsed = parseUrls(urls);
  for (const url of parsed) {
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new InvalidArgumentError(
        `invalid server address ${JSON.stringify(url.href)}: in a browser only` +
          ` ws:// and wss:// work (the server's WebSocket is at http-port/ws)`,
      );
    }
  }
  const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WebSocketClass) throw new InvalidArgumentError('no WebSocket in this runtime: pass { WebSocket } to connect()');
  const transport = webSocketTransport(WebSocketClass);
  const log = new RemoteEventLog(parsed, () => transport, options);
  await log.start();
  return log;
}

export { RemoteEventLog, type ConnectOptions } from './remote-log.js';
export { RemoteSubscription } from './remote-subscription.js';
export * from '../types/index.js';
export { eventJson } from '../types/json.js';
