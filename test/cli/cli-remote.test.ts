import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tokenAuthenticator } from '../../src/server/auth.js';
import { startTestServer } from '../support/server.js';
import { lines, ordo } from '../support/cli.js';

describe('ordo CLI against a server (--url, --token)', () => {
  it('append, read, read-all, streams, status and tail work over the network, with the token checked', async () => {
    const server = await startTestServer({
      auth: tokenAuthenticator([{ name: 'ops', token: 'ops-token-1', scopes: ['read', 'write'] }]),
    });
    for (const url of [server.urls.tcp, server.urls.ws]) {
      const auth = ['--url', url, '--token', 'ops-token-1'];
      const first = await ordo('append', 'user-1', '--type', 'Registered', '--data', '{"name":"Ada"}', ...auth);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(JSON.parse(first.stdout).index, url === server.urls.tcp ? 0 : 1);
      const conflict = await ordo('append', 'user-1', '-t', 'Renamed', '--expected', '0', ...auth);
      assert.equal(conflict.code, 2);
      assert.match(conflict.stderr, /WRONG_EXPECTED_COUNT: .*expected count 0 but its count is/);
    }
    const auth = ['--url', server.urls.tcp, '--token', 'ops-token-1'];
    assert.deepEqual(
      lines((await ordo('read', 'user-1', ...auth)).stdout).map((e) => [e.position, e.data]),
      [
        [0, { name: 'Ada' }],
        [1, { name: 'Ada' }],
      ],
    );
    assert.equal(lines((await ordo('read-all', '--type', 'Registered', ...auth)).stdout).length, 2);
    assert.deepEqual(lines((await ordo('streams', ...auth)).stdout), [{ stream: 'user-1', count: 2 }]);
    assert.equal(JSON.parse((await ordo('status', ...auth)).stdout).headPosition, 1);
    assert.deepEqual(
      lines((await ordo('tail', '--from', '0', '--no-follow', ...auth)).stdout).map((e) => e.position),
      [0, 1],
    );

    const refused = await ordo('read', 'user-1', '--url', server.urls.tcp);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /UNAUTHENTICATED: this server requires a token/);
    const unreachable = await ordo('status', '--url', 'ordo://127.0.0.1:1');
    assert.equal(unreachable.code, 2);
    assert.match(unreachable.stderr, /UNAVAILABLE/);
    await server.close();
  });
});
