import { InvalidArgumentError, describe } from '../types/errors.js';

/** Schemes the client understands. `ordo`/`tcp` = binary over TCP, `ordos` = over TLS, `ws`/`wss` = over WebSocket. */
export const SCHEMES = ['ordo:', 'ordos:', 'tcp:', 'ws:', 'wss:'] as const;
export const DEFAULT_TCP_PORT = '4680';
export const DEFAULT_WS_PORT = '4681';

/**
 * Parses `connect`'s address: one URL, an array, or a comma-separated list in which later
 * entries may omit the scheme ('ordo://10.0.0.1:4680,10.0.0.2:4680').
 */
export function parseUrls(input: unknown): URL[] {
  const list =
    typeof input === 'string'
      ? input.split(',')
      : Array.isArray(input)
        ? input.flatMap((item) => (typeof item === 'string' ? item.split(',') : [item]))
        : undefined;
  if (!list || list.length === 0) {
    throw new InvalidArgumentError(
      `invalid server address ${describe(input)}: expected a URL such as 'ordo://127.0.0.1:4680', or an array of them`,
    );
  }
  let scheme = 'ordo:';
  return list.map((raw, i) => {
    if (typeof raw !== 'string' || raw.trim() === '') {
      throw new InvalidArgumentError(
        `invalid server address ${describe(raw)} at ${i}: expected a URL such as 'ordo://127.0.0.1:4680'`,
      );
    }
    const text = raw.trim();
    let url: URL;
    try {
      url = new URL(text.includes('://') ? text : `${scheme}//${text}`);
    } catch {
      throw new InvalidArgumentError(
        `invalid server address ${describe(text)}: not a URL (expected e.g. 'ordo://127.0.0.1:4680')`,
      );
    }
    if (!(SCHEMES as readonly string[]).includes(url.protocol)) {
      throw new InvalidArgumentError(
        `invalid server address ${describe(text)}: scheme ${url.protocol} is not one of ${SCHEMES.join(' ')}`,
      );
    }
    scheme = url.protocol;
    if (url.port === '')
      url.port = url.protocol === 'ws:' || url.protocol === 'wss:' ? DEFAULT_WS_PORT : DEFAULT_TCP_PORT;
    if ((url.protocol === 'ws:' || url.protocol === 'wss:') && (url.pathname === '' || url.pathname === '/'))
      url.pathname = '/ws';
    return url;
  });
}

/** A leader's URL as a server reported it; undefined if it is not one this client can use. */
export function parseLeaderUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'ordo:' || url.protocol === 'ordos:' || url.protocol === 'ws:' || url.protocol === 'wss:'
      ? url
      : undefined;
  } catch {
    return undefined;
  }
}
