import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { tokenAuthenticator } from '../../src/server/auth.js';
import type { OrdoServer } from '../../src/server/server.js';
import { startTestServer } from '../support/server.js';

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

async function call(
  server: OrdoServer,
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${server.urls.http}${path}`, init);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // metrics: plain text
  }
  return { status: response.status, body, headers: response.headers };
}

/** Reads Server-Sent Events from a fetch body until `count` messages arrived. */
async function readSse(response: Response, count: number): Promise<Array<{ id?: string; event?: string; data: any }>> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const messages: Array<{ id?: string; event?: string; data: any }> = [];
  let text = '';
  while (messages.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const message: { id?: string; event?: string; data?: any } = {};
      for (const line of block.split('\n')) {
        const [field, ...rest] = line.split(': ');
        const value = rest.join(': ');
        if (field === 'id') message.id = value;
        if (field === 'event') message.event = value;
        if (field === 'data') message.data = JSON.parse(value);
      }
      if (message.data !== undefined) messages.push(message as { data: any });
    }
  }
  await reader.cancel();
  return messages;
}

describe('HTTP API', () => {
  it('append (201, 409 with the actual count), existsOrWrite, read, read-all, streams, count, head', async () => {
    const server = await startTestServer();
    assert.deepEqual(
      (
        await call(
          server,
          '/streams/user-1',
          json([{ type: 'Registered', data: { name: 'Ada' } }], { 'Ordo-Expected-Count': 'empty' }),
        )
      ).body,
      { position: 0, index: 0, count: 1 },
    );
    const append = await call(
      server,
      '/streams/user-1?expected=1',
      json({
        events: [
          { type: 'Renamed', data: 'A', metadata: { by: 'x' } },
          { type: 'Blob', dataBase64: 'AAEC/w==' },
        ],
      }),
    );
    assert.equal(append.status, 201);
    assert.deepEqual(append.body, { position: 1, index: 1, count: 3 });
    const conflict = await call(server, '/streams/user-1', json([{ type: 'Late' }], { 'Ordo-Expected-Count': '1' }));
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.error.code, 'WRONG_EXPECTED_COUNT');
    assert.equal(conflict.body.error.actual, 3);
    const id = '00000000-0000-4000-8000-000000000001';
    const first = await call(server, '/streams/out/0', json({ id, type: 'Out' }));
    const again = await call(server, '/streams/out/0', json({ id, type: 'Out' }));
    assert.deepEqual([first.status, first.body.written, again.status, again.body.written], [201, true, 200, false]);

    const read = await call(server, '/streams/user-1');
    assert.deepEqual(
      read.body.events.map((e: any) => [e.position, e.index, e.type]),
      [
        [0, 0, 'Registered'],
        [1, 1, 'Renamed'],
        [2, 2, 'Blob'],
      ],
    );
    assert.deepEqual(read.body.events[1].metadata, { by: 'x' });
    assert.equal(read.body.events[2].dataBase64, 'AAEC/w==', 'binary data round-trips as base64');
    assert.deepEqual(
      (await call(server, '/streams/user-1?backwards=true&limit=2')).body.events.map((e: any) => e.index),
      [2, 1],
    );
    assert.deepEqual(
      (await call(server, '/streams/user-1?from=1&limit=1')).body.events.map((e: any) => e.index),
      [1],
    );
    assert.deepEqual(
      (await call(server, '/all?types=Registered,Out')).body.events.map((e: any) => e.position),
      [0, 3],
    );
    assert.deepEqual(
      (await call(server, '/all?from=2&prefixes=user-')).body.events.map((e: any) => e.position),
      [2],
    );
    assert.deepEqual((await call(server, '/streams')).body.streams, [
      { stream: 'user-1', count: 3 },
      { stream: 'out', count: 1 },
    ]);
    assert.deepEqual((await call(server, '/streams/user-1/count')).body, { stream: 'user-1', count: 3 });
    assert.deepEqual((await call(server, '/head')).body, { headPosition: 3 });
    const many = await call(
      server,
      '/append-many',
      json({
        appends: [
          { stream: 'a', events: [{ type: 'A' }] },
          { stream: 'b', expected: 'empty', events: [{ type: 'B' }] },
        ],
      }),
    );
    assert.equal(many.status, 201);
    assert.deepEqual(
      many.body.streams.map((s: any) => [s.stream, s.position]),
      [
        ['a', 4],
        ['b', 5],
      ],
    );
    await server.close();
  });

  it('bad input: 400 naming the value, 413 for too large, 415 without JSON, 404/405 for unknown routes', async () => {
    const server = await startTestServer({ log: { maxEventBytes: 1000 } });
    const cases: Array<[string, RequestInit, number, RegExp]> = [
      ['/streams/s', json('{nope'), 400, /not JSON/],
      ['/streams/%24system', json([{ type: 'T' }]), 400, /reserved for Ordo/],
      ['/streams/s', json([{ data: 1 }]), 400, /invalid event type/],
      ['/streams/s', json([{ type: 'T', id: 'not-a-uuid' }]), 400, /"not-a-uuid"/],
      ['/streams/s', json([{ type: 'T', dataBase64: '***' }]), 400, /base64/],
      ['/streams/s?expected=sometimes', json([{ type: 'T' }]), 400, /invalid expected "sometimes"/],
      ['/streams/s', json([]), 400, /at least one event/],
      ['/streams/s', json({ nope: true }), 400, /expected an array of events/],
      ['/streams/s', json([{ type: 'T', data: 'x'.repeat(2000) }]), 413, /exceeds the maximum of 1000 bytes/],
      ['/streams/s', json('x'.repeat(5 * 1024 * 1024)), 413, /exceeds the maximum of 4194304 bytes/],
      ['/streams/s', { method: 'POST', body: '[]' }, 415, /expected application\/json/],
      ['/streams/s?limit=20000', {}, 400, /at most 10000/],
      ['/streams/s?from=-1', {}, 400, /invalid from "-1"/],
      ['/nowhere', {}, 404, /no route/],
    ];
    for (const [path, init, status, message] of cases) {
      const response = await call(server, path, init);
      assert.equal(response.status, status, `${path}: ${JSON.stringify(response.body)}`);
      assert.match(response.body.error.message, message, path);
      assert.equal(typeof response.body.error.code, 'string');
    }
    const wrongMethod = await call(server, '/streams/s', { method: 'PUT' });
    assert.equal(wrongMethod.status, 405);
    assert.match(wrongMethod.headers.get('allow') ?? '', /GET/);
    assert.equal((await call(server, '/head')).body.headPosition, -1, 'nothing was written by the bad requests');
    await server.close();
  });

  it('fuzz: random bodies get 4xx answers and the server keeps serving', async () => {
    const server = await startTestServer();
    const bodies = fc.sample(
      fc.oneof(
        fc.string(),
        fc.json(),
        fc.jsonValue().map((v) => JSON.stringify([v])),
      ),
      { numRuns: 150, seed: 7 },
    );
    for (const body of bodies) {
      const response = await call(server, '/streams/fuzz', json(body));
      assert.ok(
        response.status === 201 || (response.status >= 400 && response.status < 500),
        `${response.status} for ${body}: ${JSON.stringify(response.body)}`,
      );
    }
    assert.equal((await call(server, '/health')).status, 200);
    await server.close();
  });

  it('Server-Sent Events: catch-up then live in order, ids are positions, Last-Event-ID resumes exactly after', async () => {
    const server = await startTestServer();
    for (let i = 0; i < 5; i++) await call(server, '/streams/feed', json([{ type: 'Item', data: i }]));
    const live = await fetch(`${server.urls.http}/subscribe?from=start&streams=feed&transient=true`);
    assert.equal(live.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reading = readSse(live, 8);
    await call(server, '/streams/other', json([{ type: 'Noise' }]));
    await call(server, '/transient/feed', json({ type: 'Typing', data: { user: 'ada' } }));
    await call(
      server,
      '/streams/feed',
      json([
        { type: 'Item', data: 5 },
        { type: 'Item', data: 6 },
      ]),
    );
    const messages = await reading;
    const committed = messages.filter((m) => m.event === 'event');
    assert.deepEqual(
      committed.map((m) => m.data.data),
      [0, 1, 2, 3, 4, 5, 6],
    );
    assert.deepEqual(
      committed.map((m) => Number(m.id)),
      committed.map((m) => m.data.position),
    );
    const transient = messages.find((m) => m.event === 'transient');
    assert.deepEqual(transient?.data.data, { user: 'ada' });
    assert.equal(transient?.id, undefined, 'transient events have no id to resume from');

    const resumed = await fetch(`${server.urls.http}/subscribe?streams=feed`, { headers: { 'Last-Event-ID': '3' } });
    assert.deepEqual(
      (await readSse(resumed, 3)).map((m) => m.data.position),
      [4, 6, 7],
    );
    await server.close();
  });

  it('auth: 401 without or with an unknown token, 403 out of scope, 200 in scope, /health open, /metrics for admins', async () => {
    const server = await startTestServer({
      auth: tokenAuthenticator([
        { name: 'reader', token: 'reader-token-1', scopes: ['read'] },
        { name: 'admin', token: 'admin-token-1', scopes: ['admin'] },
      ]),
    });
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const none = await call(server, '/streams/s', json([{ type: 'T' }]));
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await call(server, '/head', { headers: bearer('guess-guess') })).status, 401);
    const denied = await call(server, '/streams/s', json([{ type: 'T' }], bearer('reader-token-1')));
    assert.equal(denied.status, 403);
    assert.match(denied.body.error.message, /'write' scope/);
    assert.equal(
      (await call(server, '/subscribe?from=end', { headers: bearer('nobody-knows') })).status,
      401,
      'SSE checks the token too',
    );
    assert.equal((await call(server, '/streams/s', json([{ type: 'T' }], bearer('admin-token-1')))).status, 201);
    assert.equal((await call(server, '/streams/s', { headers: bearer('reader-token-1') })).status, 200);
    assert.equal(
      (await call(server, '/streams/s?token=reader-token-1')).status,
      200,
      'EventSource cannot send headers: ?token= works',
    );
    assert.equal((await call(server, '/metrics', { headers: bearer('reader-token-1') })).status, 403);
    assert.equal((await call(server, '/health')).status, 200);
    const metrics = await call(server, '/metrics', { headers: bearer('admin-token-1') });
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /ordo_appends_total 1/);
    assert.match(metrics.body, /ordo_fsync_duration_seconds_bucket\{le="0.001"\}/);
    assert.match(
      metrics.body,
      /ordo_requests_total\{operation="append",transport="http",outcome="PERMISSION_DENIED"\} 1/,
    );
    await server.close();
  });

  it('graceful close: open event streams end, /health says closing', async () => {
    const server = await startTestServer();
    const stream = await fetch(`${server.urls.http}/subscribe?from=end`);
    const reading = stream.text();
    const closing = server.close();
    assert.match(await reading, /retry: 1000/);
    await closing;
  });
});
