import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { killHard, startServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

describe('README contract: npm start', () => {
  it('runs ordo serve on ./ordo-data, which prints its addresses and answers /health', async () => {
    const pkg = JSON.parse(await readFile(join(process.cwd(), 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.match(pkg.scripts.start!, /dist\/src\/cli\/main\.js serve --dir \.\/ordo-data$/);
    // The same command, on free ports and a temporary directory so it cannot clash with a running server.
    const server = await startServerProcess(await tempDir());
    try {
      assert.match(server.urls.tcp, /^ordo:\/\/127\.0\.0\.1:\d+$/);
      assert.match(server.urls.ws, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
      const health = await fetch(`${server.urls.http}/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), {
        status: 'ok',
        writes: 'accepting',
        headPosition: -1,
        node: { id: 'n1', role: 'leader', term: 1, leader: 'n1', commit: 1 },
      });
    } finally {
      await killHard(server);
    }
  });
});
