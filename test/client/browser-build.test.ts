import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { connect, type BrowserConnectOptions } from '../../src/client/browser.js';
import type { Event } from '../../src/types/index.js';
import { startTestServer } from '../support/server.js';

const BROWSER_ENTRY = fileURLToPath(new URL('../../src/client/browser.js', import.meta.url));
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every module the browser entry loads, following its imports. */
async function importGraph(entry: string): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (graph.has(file)) continue;
    const source = await readFile(file, 'utf8');
    const specifiers = [...source.matchAll(IMPORT)].map((m) => m[1] ?? m[2]!);
    graph.set(file, specifiers);
    for (const specifier of specifiers) if (specifier.startsWith('.')) queue.push(resolve(dirname(file), specifier));
  }
  return graph;
}

describe('ordo/client: the browser build', () => {
  it('imports no Node built-in and no package: only its own relative modules', async () => {
    const graph = await importGraph(BROWSER_ENTRY);
    assert.ok(graph.size > 5, `followed the graph (${graph.size} modules)`);
    for (const [file, specifiers] of graph) {
      for (const specifier of specifiers) {
        assert.ok(specifier.startsWith('./') || specifier.startsWith('../'), `${file} imports ${specifier}`);
      }
      const source = await readFile(file, 'utf8');
      assert.doesNotMatch(source, /\bBuffer\.|\brequire\(/, `${file} uses a Node-only global`);
    }
  });

  it('works over a standard WebSocket (the ws package stands in for the browser’s)', async () => {
    const server = await startTestServer();
    await assert.rejects(connect(server.urls.tcp), /only ws:\/\/ and wss:\/\//);
    const options: BrowserConnectOptions = { WebSocket: WebSocket as unknown as BrowserConnectOptions['WebSocket'] };
    const log = await connect(server.urls.ws, options);
    await log.append('page', { type: 'Clicked', data: { x: 1 } });
    const subscription = log.subscribe({ from: 'start' });
    assert.equal(((await subscription.next()).value as Event).type, 'Clicked');
    subscription.close();
    await log.close();
    await server.close();
  });
});
