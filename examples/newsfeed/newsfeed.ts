import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { pino } from 'pino';
import { startServer, type OrdoServer } from '../../src/index.js';

/** The page's source (bundled with the browser client when the example starts). */
const PAGE_SOURCE = fileURLToPath(new URL('../../../examples/newsfeed/page/main.ts', import.meta.url));

export interface Newsfeed {
  /** The page. */
  url: string;
  ordo: OrdoServer;
  close(): Promise<void>;
}

/**
 * An Ordo server for the feed and a small web server for the page, both on loopback. The page
 * talks to Ordo's WebSocket directly (the browser client), not through this server.
 */
export async function startNewsfeed(options: { dir: string; port?: number }): Promise<Newsfeed> {
  const ordo = await startServer({ dir: options.dir, port: 0, httpPort: 0, logger: pino({ level: 'warn' }) });
  const bundle = await build({
    entryPoints: [PAGE_SOURCE],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'warning',
  });
  const script = bundle.outputFiles[0]!.contents;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Newsfeed</title>
<meta name="ordo-ws" content="${ordo.urls.ws}">
<style>body{font-family:system-ui,sans-serif;max-width:640px;margin:40px auto}li{padding:4px 0;border-bottom:1px solid #eee}</style>
</head><body>
<h1>Newsfeed</h1>
<form id="post"><input id="text" placeholder="what's new?" required> <button>post</button></form>
<p id="status">loading…</p>
<ol id="items" start="0"></ol>
<script type="module" src="/page.js"></script>
</body></html>`;
  const web: Server = createServer((req, res) => {
    if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    else if (req.url === '/page.js')
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(script);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => web.listen(options.port ?? 0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(web.address() as AddressInfo).port}/`,
    ordo,
    close: async () => {
      web.closeAllConnections();
      await new Promise((resolve) => web.close(resolve));
      await ordo.close();
    },
  };
}
