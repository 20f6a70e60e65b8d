/** The path on the HTTP server where WebSocket clients connect. */
export const WEBSOCKET_PATH = '/ws';

/** Where clients connect: `ordo://` (or `ordos://`), `ws://` (or `wss://`), `http://` (or `https://`). */
export interface ServerUrls {
  tcp: string;
  ws: string;
  http: string;
}

/** A host as a URL holds it: an IPv6 address in brackets. */
export function hostInUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function serverUrls(host: string, tcpPort: number, httpPort: number, secure: boolean): ServerUrls {
  const hostPart = hostInUrl(host);
  return {
    tcp: `${secure ? 'ordos' : 'ordo'}://${hostPart}:${tcpPort}`,
    ws: `${secure ? 'wss' : 'ws'}://${hostPart}:${httpPort}${WEBSOCKET_PATH}`,
    http: `${secure ? 'https' : 'http'}://${hostPart}:${httpPort}`,
  };
}
