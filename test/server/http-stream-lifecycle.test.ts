import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tokenAuthenticator } from '../../src/server/auth.js';
import type { OrdoServer } from '../../src/server/server.js';
import { startTestServer } from '../support/server.js';

type Answer = { status: number; body: any; headers: Headers };

async function call(server: OrdoServer, method: string, path: string, body?: unknown, headers = {}): Promise<Answer> {
  const response = await fetch(`${server.urls.http}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

async function appendN(server: OrdoServer, stream: string, n: number): Promise<void> {
  const events = Array.from({ length: n }, (_, i) => ({ type: 'Tick', data: { i } }));
  assert.equal((await call(server, 'POST', `/streams/${stream}`, events)).status, 201);
}

async function indexesOf(server: OrdoServer, stream: string): Promise<number[]> {
  const read = await call(server, 'GET', `/streams/${stream}`);
  assert.equal(read.status, 200);
  return read.body.events.map((event: { index: number }) => event.index);
}

describe('HTTP API: stream metadata, deletion and tombstones', () => {
  it('PUT /streams/:stream/metadata stores it under an expected count, GET answers it, reads honour it', async () => {
    // Given a stream of five events
    const server = await startTestServer();
    try {
      await appendN(server, 'sensor-1', 5);
      const none = await call(server, 'GET', '/streams/sensor-1/metadata');
      assert.deepEqual(none.body, {
        stream: 'sensor-1',
        metadata: {},
        metadataCount: 0,
        count: 5,
        deleted: false,
        tombstoned: false,
        erased: false,
      });

      // When its metadata is set, expecting no earlier change (header), then changed (query)
      const metadata = { maxCount: 2, custom: { owner: 'ops', tags: ['a'] } };
      const set = await call(server, 'PUT', '/streams/sensor-1/metadata', metadata, { 'Ordo-Expected-Count': '0' });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.equal(set.body.metadataCount, 1);
      assert.equal(typeof set.body.position, 'number');

      // Then reads show only the newest two events, and the metadata reads back as given
      assert.deepEqual(await indexesOf(server, 'sensor-1'), [3, 4]);
      const got = await call(server, 'GET', '/streams/sensor-1/metadata?consistency=local');
      assert.deepEqual(got.body.metadata, metadata);
      assert.equal(got.body.metadataCount, 1);
      assert.equal(got.body.count, 5);

      // And a change against a stale expected count is refused with the actual count
      const stale = await call(server, 'PUT', '/streams/sensor-1/metadata?expected=0', { maxCount: 3 });
      assert.equal(stale.status, 409);
      assert.equal(stale.body.error.code, 'WRONG_EXPECTED_COUNT');
      assert.equal(stale.body.error.actual, 1);
      const replaced = await call(server, 'PUT', '/streams/sensor-1/metadata?expected=1', { truncateBefore: 1 });
      assert.equal(replaced.status, 200);
      assert.deepEqual(await indexesOf(server, 'sensor-1'), [1, 2, 3, 4], 'the whole metadata was replaced');
    } finally {
      await server.close();
    }
  });

  it('DELETE /streams/:stream soft-deletes: the stream reads empty, keeps its count and takes appends again', async () => {
    const server = await startTestServer();
    try {
      await appendN(server, 'cart-7', 3);
      const wrong = await call(server, 'DELETE', '/streams/cart-7?expected=2');
      assert.equal(wrong.status, 409, 'the expected count is the stream’s own');
      assert.equal(wrong.body.error.actual, 3);

      const deleted = await call(server, 'DELETE', '/streams/cart-7?expected=3');
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      assert.equal(typeof deleted.body.position, 'number');
      assert.deepEqual(await indexesOf(server, 'cart-7'), []);
      const metadata = (await call(server, 'GET', '/streams/cart-7/metadata')).body;
      assert.equal(metadata.deleted, true);
      assert.equal(metadata.tombstoned, false);
      assert.equal(metadata.count, 3);

      // Written again, its indexes continue where they were
      await appendN(server, 'cart-7', 1);
      assert.deepEqual(await indexesOf(server, 'cart-7'), [3]);
      assert.equal((await call(server, 'GET', '/streams/cart-7/metadata')).body.deleted, false);
    } finally {
      await server.close();
    }
  });

  it('DELETE ?tombstone=true deletes for good: appends and metadata changes answer 410 STREAM_DELETED', async () => {
    const server = await startTestServer();
    try {
      await appendN(server, 'account-9', 2);
      assert.equal((await call(server, 'DELETE', '/streams/account-9?tombstone=true')).status, 200);

      const append = await call(server, 'POST', '/streams/account-9', [{ type: 'Reopened' }]);
      assert.equal(append.status, 410);
      assert.equal(append.body.error.code, 'STREAM_DELETED');
      assert.match(append.body.error.message, /stream "account-9" is tombstoned/);
      assert.equal(append.body.error.stream, 'account-9');
      const change = await call(server, 'PUT', '/streams/account-9/metadata', { maxCount: 1 });
      assert.equal(change.status, 410);
      assert.equal(change.body.error.code, 'STREAM_DELETED');

      const metadata = (await call(server, 'GET', '/streams/account-9/metadata')).body;
      assert.equal(metadata.tombstoned, true);
      assert.equal(metadata.count, 2);
      assert.deepEqual(await indexesOf(server, 'account-9'), []);
    } finally {
      await server.close();
    }
  });

  it('bad input: 400 with the typed error naming the value; a POST on /metadata is a 405, not an index', async () => {
    const server = await startTestServer();
    try {
      const cases: Array<[string, string, unknown, string, RegExp]> = [
        ['PUT', '/streams/s/metadata', { maxCount: -1 }, 'INVALID_METADATA', /maxCount -1: expected a whole number/],
        ['PUT', '/streams/s/metadata', { maxcount: 5 }, 'INVALID_METADATA', /no field "maxcount"/],
        ['PUT', '/streams/s/metadata', [1], 'INVALID_METADATA', /expected an object/],
        ['PUT', '/streams/s/metadata', { custom: 'x' }, 'INVALID_METADATA', /custom "x"/],
        ['PUT', '/streams/s/metadata', '{nope', 'INVALID_ARGUMENT', /not JSON/],
        ['PUT', '/streams/%24system/metadata', {}, 'INVALID_STREAM', /reserved for Ordo/],
        ['PUT', '/streams/s/metadata?expected=soon', {}, 'INVALID_EXPECTED', /invalid expected "soon"/],
        ['GET', '/streams/%24system/metadata', undefined, 'INVALID_STREAM', /reserved for Ordo/],
        ['GET', '/streams/s/metadata?consistency=eventual', undefined, 'INVALID_ARGUMENT', /"eventual"/],
        ['DELETE', '/streams/%24system', undefined, 'INVALID_STREAM', /reserved for Ordo/],
        ['DELETE', '/streams/s?tombstone=maybe', undefined, 'INVALID_ARGUMENT', /tombstone "maybe"/],
        ['DELETE', '/streams/s?expected=-1', undefined, 'INVALID_EXPECTED', /invalid expected "-1"/],
      ];
      for (const [method, path, body, code, message] of cases) {
        const answer = await call(server, method, path, body);
        const what = `${method} ${path}: ${JSON.stringify(answer.body)}`;
        assert.equal(answer.status, 400, what);
        assert.equal(answer.body.error.code, code, what);
        assert.match(answer.body.error.message, message, what);
      }
      const invalid = await call(server, 'PUT', '/streams/s/metadata', { maxAge: 0 });
      assert.equal(invalid.body.error.field, 'maxAge');
      assert.equal(invalid.body.error.value, 0);

      const post = await call(server, 'POST', '/streams/s/metadata', { type: 'T' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, PUT');
      assert.equal((await call(server, 'GET', '/head')).body.headPosition, -1, 'nothing was written');
    } finally {
      await server.close();
    }
  });
});

describe('HTTP API: erasure and scavenging (admin)', () => {
  const auth = tokenAuthenticator([
    { name: 'app', token: 'writer-token-1', scopes: ['read', 'write'] },
    { name: 'ops', token: 'admin-token-1', scopes: ['admin'] },
  ]);
  const as = (token: string) => ({ authorization: `Bearer ${token}` });

  it('POST /streams/:stream/erase: 200 with the position for an admin, 403 for a writer, 410 the second time', async () => {
    // Given a stream of three events, written with a write token
    const server = await startTestServer({ auth });
    try {
      const events = [0, 1, 2].map((i) => ({ type: 'Tick', data: { i, marker: 'ERASE-ME-http-5c' } }));
      const appended = await call(server, 'POST', '/streams/user-1', events, as('writer-token-1'));
      assert.equal(appended.status, 201, JSON.stringify(appended.body));

      // When a write token asks to erase it, it is refused with the scope named
      const denied = await call(server, 'POST', '/streams/user-1/erase', undefined, as('writer-token-1'));
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error.code, 'PERMISSION_DENIED');
      assert.match(denied.body.error.message, /erase needs the 'admin' scope, which token "app" does not have/);
      assert.deepEqual([denied.body.error.operation, denied.body.error.scope], ['erase', 'admin']);

      // When an admin erases it under a stale, then the right expected count
      const stale = await call(server, 'POST', '/streams/user-1/erase?expected=2', undefined, as('admin-token-1'));
      assert.equal(stale.status, 409);
      assert.equal(stale.body.error.actual, 3);
      const erased = await call(server, 'POST', '/streams/user-1/erase?expected=3', undefined, as('admin-token-1'));

      // Then the answer has its position, the stream reads empty and is tombstoned, and no bytes are left
      assert.equal(erased.status, 200, JSON.stringify(erased.body));
      assert.deepEqual(erased.body, { position: 3 });
      const read = await call(server, 'GET', '/streams/user-1', undefined, as('admin-token-1'));
      assert.deepEqual(read.body.events, []);
      const metadata = await call(server, 'GET', '/streams/user-1/metadata', undefined, as('admin-token-1'));
      assert.deepEqual([metadata.body.tombstoned, metadata.body.count], [true, 3]);
      assert.deepEqual(await filesHolding(server.log.dir, 'ERASE-ME-http-5c'), []);

      // And a second erasure answers 410 STREAM_DELETED
      const again = await call(server, 'POST', '/streams/user-1/erase', undefined, as('admin-token-1'));
      assert.equal(again.status, 410);
      assert.equal(again.body.error.code, 'STREAM_DELETED');
      assert.equal(again.body.error.stream, 'user-1');
      const reserved = await call(server, 'POST', '/streams/%24system/erase', undefined, as('admin-token-1'));
      assert.equal(reserved.status, 400);
      assert.equal(reserved.body.error.code, 'INVALID_STREAM');
    } finally {
      await server.close();
    }
  });

  it('POST /admin/scavenge answers the result for an admin only, and /metrics shows scavenging', async () => {
    // Given a stream of 60 events in small sealed segments, of which maxCount 10 shows the newest
    const server = await startTestServer({ auth, log: { segmentBytes: 8192, scavenge: false, scrub: false } });
    try {
      const pad = 'p'.repeat(300);
      const events = Array.from({ length: 60 }, (_, i) => ({ type: 'Tick', data: { i, pad } }));
      assert.equal((await call(server, 'POST', '/streams/trimmed', events, as('admin-token-1'))).status, 201);
      const limit = await call(server, 'PUT', '/streams/trimmed/metadata', { maxCount: 10 }, as('admin-token-1'));
      assert.equal(limit.status, 200);
      assert.equal((await call(server, 'POST', '/streams/tail', [{ type: 'T' }], as('admin-token-1'))).status, 201);

      // When a write token asks for a scavenge, it is refused; an admin's is done
      const denied = await call(server, 'POST', '/admin/scavenge', undefined, as('writer-token-1'));
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error.code, 'PERMISSION_DENIED');
      const scavenged = await call(server, 'POST', '/admin/scavenge', undefined, as('admin-token-1'));

      // Then the answer says what it reclaimed, and the metrics count it
      assert.equal(scavenged.status, 200, JSON.stringify(scavenged.body));
      const { streams, segmentsRewritten, holes, bytesReclaimed } = scavenged.body;
      assert.deepEqual(Object.keys(scavenged.body).sort(), ['bytesReclaimed', 'holes', 'segmentsRewritten', 'streams']);
      assert.equal(streams, 1);
      assert.ok(
        segmentsRewritten >= 1 && holes >= 40 && bytesReclaimed > 40 * pad.length,
        JSON.stringify(scavenged.body),
      );
      const page = await (await fetch(`${server.urls.http}/metrics`, { headers: as('admin-token-1') })).text();
      // The committed scavenge point starts a pass of its own too, which finds nothing left.
      assert.ok((metric(page, 'ordo_scavenge_passes_total') ?? 0) >= 1, page);
      assert.equal(metric(page, 'ordo_scavenge_holes_total'), holes);
      assert.equal(metric(page, 'ordo_scavenge_reclaimed_bytes_total'), bytesReclaimed);
      assert.equal(metric(page, 'ordo_scavenge_pass_progress'), 0, 'no pass under way');
      assert.equal(metric(page, 'ordo_erasures_pending'), 0);
      const read = await call(server, 'GET', '/streams/trimmed', undefined, as('admin-token-1'));
      assert.deepEqual(
        read.body.events.map((event: { index: number }) => event.index),
        Array.from({ length: 10 }, (_, k) => 50 + k),
      );
      const other = await call(server, 'GET', '/admin/scavenge', undefined, as('admin-token-1'));
      assert.equal(other.status, 405);
    } finally {
      await server.close();
    }
  });
});

/** Every file under `dir` whose bytes hold `marker`. */
async function filesHolding(dir: string, marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const file = join(entry.parentPath, entry.name);
    if (entry.isFile() && (await readFile(file)).includes(marker)) found.push(file);
  }
  return found;
}

/** One metric's value in a Prometheus text page. */
function metric(page: string, name: string): number | undefined {
  const line = page.split('\n').find((each) => each.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}
