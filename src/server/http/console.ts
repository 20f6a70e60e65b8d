import type { ServerResponse } from 'node:http';
import { InvalidArgumentError } from '../../types/errors.js';
import type { ConsoleAsset } from '../console-assets.js';
import type { createConsoleStats } from '../console-stats.js';
import { HttpError } from '../http-json.js';
import type { Route } from './route.js';

const CONSOLE_PATH_PREFIX = '/console/';

/** The web console: its files (GET / and /console/*) and its live feed (GET /console/stats). */
export interface HttpConsole {
  assets: ReadonlyMap<string, ConsoleAsset> | undefined;
  stats: ReturnType<typeof createConsoleStats>;
}

/** GET /console/stats: the console's live overview feed (404 on a server without a console). */
export function consoleRoutes(webConsole: HttpConsole | undefined, streams: Set<ServerResponse>): Route[] {
  return [
    {
      method: 'GET',
      pattern: ['console', 'stats'],
      operation: 'stats',
      run: async ({ req, res }) => {
        if (!webConsole) throw new HttpError(404, new InvalidArgumentError('this server has no console'));
        streams.add(res);
        await webConsole.stats.stream(req, res, () => undefined);
        streams.delete(res);
        return 'streamed';
      },
    },
  ];
}

/**
 * Answers a GET for one of the console's files (`/` is its index.html) and returns true, or
 * returns false when the path names none. The files hold no data, so no token is asked (the
 * page asks for one when the API does).
 */
export function serveConsoleAsset(
  assets: ReadonlyMap<string, ConsoleAsset> | undefined,
  pathname: string,
  res: ServerResponse,
): boolean {
  if (!assets) return false;
  const name = assetNameOf(pathname);
  const asset = name !== undefined ? assets.get(name) : undefined;
  if (!asset) return false;
  const { contentType, body } = asset;
  const headers = { 'content-type': contentType, 'content-length': body.length, 'cache-control': 'no-cache' };
  res.writeHead(200, headers).end(asset.body);
  return true;
}

function assetNameOf(pathname: string): string | undefined {
  if (pathname === '/') return 'index.html';
  return pathname.startsWith(CONSOLE_PATH_PREFIX) ? pathname.slice(CONSOLE_PATH_PREFIX.length) : undefined;
}
