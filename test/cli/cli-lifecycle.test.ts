import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tokenAuthenticator } from '../../src/server/auth.js';
import { startTestServer } from '../support/server.js';
import { tempDir } from '../support/temp-dir.js';
import { lines, ordo } from '../support/cli.js';

/** Appends `n` events to `stream` through the CLI; `where` is --dir or --url with its token. */
async function appendN(stream: string, n: number, where: string[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const appended = await ordo('append', stream, '-t', 'Tick', '--data', String(i), ...where);
    assert.equal(appended.code, 0, appended.stderr);
  }
}

const indexesOf = async (stream: string, where: string[]) =>
  lines((await ordo('read', stream, ...where)).stdout).map((event) => event.index);

describe('ordo metadata and ordo delete', () => {
  it('on a data directory: set under an expected count, get, reads honour it, bad input is named', async () => {
    // Given a stream of four events
    const where = ['--dir', await tempDir('ordo-cli-metadata')];
    await appendN('sensor-1', 4, where);

    // When its metadata is set expecting no earlier change
    const set = await ordo(
      'metadata',
      'set',
      'sensor-1',
      '{"maxCount":2,"custom":{"owner":"ops"}}',
      '-e',
      '0',
      ...where,
    );
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout), { position: 4, metadataCount: 1 });

    // Then reads show the newest two, and get prints the metadata and what it makes of the stream
    assert.deepEqual(await indexesOf('sensor-1', where), [2, 3]);
    assert.deepEqual(JSON.parse((await ordo('metadata', 'get', 'sensor-1', ...where)).stdout), {
      stream: 'sensor-1',
      metadata: { maxCount: 2, custom: { owner: 'ops' } },
      metadataCount: 1,
      count: 4,
      deleted: false,
      tombstoned: false,
      erased: false,
    });

    // And a stale expected count, bad metadata and text that is not JSON are refused, naming the value
    const stale = await ordo('metadata', 'set', 'sensor-1', '{}', '--expected', '0', ...where);
    assert.equal(stale.code, 2);
    assert.match(stale.stderr, /WRONG_EXPECTED_COUNT: .*expected count 0 but its count is 1/);
    const negative = await ordo('metadata', 'set', 'sensor-1', '{"maxCount":-1}', ...where);
    assert.equal(negative.code, 2);
    assert.match(negative.stderr, /INVALID_METADATA: invalid stream metadata maxCount -1/);
    const unknown = await ordo('metadata', 'set', 'sensor-1', '{"ttl":5}', ...where);
    assert.match(unknown.stderr, /INVALID_METADATA: .*no field "ttl"/);
    const notJson = await ordo('metadata', 'set', 'sensor-1', '{maxCount', ...where);
    assert.notEqual(notJson.code, 0);
    assert.match(notJson.stderr, /the metadata must be JSON/);
    const badName = await ordo('metadata', 'get', '$system', ...where);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /INVALID_STREAM: .*reserved for Ordo/);
    assert.equal(JSON.parse((await ordo('metadata', 'get', 'sensor-1', ...where)).stdout).metadataCount, 1);
  });

  it('on a data directory: delete is soft (the stream is written again), --tombstone for good', async () => {
    const where = ['--dir', await tempDir('ordo-cli-delete')];
    await appendN('cart-7', 3, where);
    const wrong = await ordo('delete', 'cart-7', '--expected', '2', ...where);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /WRONG_EXPECTED_COUNT/);

    const deleted = await ordo('delete', 'cart-7', '--expected', '3', ...where);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual(JSON.parse(deleted.stdout), { position: 3 });
    assert.deepEqual(await indexesOf('cart-7', where), []);
    assert.equal(JSON.parse((await ordo('metadata', 'get', 'cart-7', ...where)).stdout).deleted, true);
    await appendN('cart-7', 1, where);
    assert.deepEqual(await indexesOf('cart-7', where), [3]);

    assert.equal((await ordo('delete', 'cart-7', '--tombstone', ...where)).code, 0);
    const refused = await ordo('append', 'cart-7', '-t', 'Reopened', ...where);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /STREAM_DELETED: append refused: stream "cart-7" is tombstoned/);
    assert.equal(JSON.parse((await ordo('metadata', 'get', 'cart-7', ...where)).stdout).tombstoned, true);
  });

  it("against a server's HTTP API (--http, --token): scopes checked, a tombstone refuses appends", async () => {
    const server = await startTestServer({
      auth: tokenAuthenticator([
        { name: 'app', token: 'writer-token-1', scopes: ['read', 'write'] },
        { name: 'ops', token: 'reader-token-1', scopes: ['read'] },
      ]),
    });
    try {
      const writer = ['--http', server.urls.http, '--token', 'writer-token-1'];
      const reader = ['--http', server.urls.http, '--token', 'reader-token-1'];
      await appendN('user/42', 3, ['--url', server.urls.tcp, '--token', 'writer-token-1']);

      const set = await ordo('metadata', 'set', 'user/42', '{"truncateBefore":1}', '-e', '0', ...writer);
      assert.equal(set.code, 0, set.stderr);
      assert.equal(JSON.parse(set.stdout).metadataCount, 1);
      const got = JSON.parse((await ordo('metadata', 'get', 'user/42', ...reader)).stdout);
      assert.deepEqual([got.stream, got.metadata, got.count], ['user/42', { truncateBefore: 1 }, 3]);
      const bad = await ordo('metadata', 'set', 'user/42', '{"maxAge":0}', ...writer);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /INVALID_METADATA: invalid stream metadata maxAge 0/);

      const denied = await ordo('delete', 'user/42', '--tombstone', ...reader);
      assert.equal(denied.code, 2);
      assert.match(denied.stderr, /PERMISSION_DENIED/);
      const tombstoned = await ordo('delete', 'user/42', '--tombstone', '--expected', '3', ...writer);
      assert.equal(tombstoned.code, 0, tombstoned.stderr);
      const refused = await ordo(
        'append',
        'user/42',
        '-t',
        'Tick',
        '--url',
        server.urls.tcp,
        '--token',
        'writer-token-1',
      );
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /STREAM_DELETED/);
      const again = await ordo('metadata', 'set', 'user/42', '{}', ...writer);
      assert.match(again.stderr, /STREAM_DELETED: .*"user\/42" is tombstoned/);

      const anonymous = await ordo('metadata', 'get', 'user/42', '--http', server.urls.http);
      assert.match(anonymous.stderr, /UNAUTHENTICATED/);
    } finally {
      await server.close();
    }
    const unreachable = await ordo('metadata', 'get', 's', '--http', 'http://127.0.0.1:1');
    assert.equal(unreachable.code, 2);
    assert.match(unreachable.stderr, /UNAVAILABLE: no Ordo HTTP API at http:\/\/127.0.0.1:1/);
  });
});
