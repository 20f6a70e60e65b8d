import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { connect as netConnect } from 'node:net';
import { connect } from '../../src/client/index.js';
import {
  ByteWriter,
  FrameDecoder,
  PROTOCOL_VERSION,
  readResponse,
  writeHello,
  type Response,
} from '../../src/protocol/index.js';
import { writeRaft, writeSnapshotFrame } from '../../src/protocol/requests.js';
import { message } from '../../src/raft/index.js';
import type { RemoteEventLog } from '../../src/client/remote-log.js';
import { OPERATION_SCOPES, tokenAuthenticator } from '../../src/server/auth.js';
import { PermissionDeniedError } from '../../src/types/index.js';
import { startTestServer } from '../support/server.js';
import { tempDir } from '../support/temp-dir.js';

const auth = tokenAuthenticator([
  { name: 'reader', token: 'reader-token-1', scopes: ['read'] },
  { name: 'writer', token: 'writer-token-1', scopes: ['write'] },
  { name: 'admin', token: 'admin-token-1', scopes: ['admin'] },
]);

/** Erasing a stream twice is refused: each call erases one of its own. */
let erasures = 0;

/** Every EventLog operation a client can make, as one call each. */
const CLIENT_OPERATIONS: Record<
  string,
  { scope: 'read' | 'write' | 'admin'; run: (log: RemoteEventLog) => Promise<unknown> }
> = {
  append: { scope: 'write', run: (log) => log.append('s', { type: 'T' }) },
  appendMany: { scope: 'write', run: (log) => log.appendMany([{ stream: 's', events: [{ type: 'T' }] }]) },
  existsOrWrite: { scope: 'write', run: (log) => log.existsOrWrite('e', 0, { type: 'T' }) },
  publishTransient: { scope: 'write', run: (log) => log.publishTransient('s', { type: 'T' }) },
  read: {
    scope: 'read',
    run: async (log) => {
      for await (const _ of log.read('s')) void _;
    },
  },
  readAll: {
    scope: 'read',
    run: async (log) => {
      for await (const _ of log.readAll()) void _;
    },
  },
  // From 0: the writes above put events there, so an allowed subscription delivers one at once.
  subscribe: {
    scope: 'read',
    run: async (log) => {
      const subscription = log.subscribe({ from: 0 });
      try {
        await subscription.next();
      } finally {
        subscription.close();
      }
    },
  },
  readAndSubscribe: { scope: 'read', run: (log) => log.readAndSubscribe('s') },
  count: { scope: 'read', run: (log) => log.count('s') },
  headPosition: { scope: 'read', run: (log) => log.headPosition() },
  streams: {
    scope: 'read',
    run: async (log) => {
      for await (const _ of log.streams()) void _;
    },
  },
  setStreamMetadata: { scope: 'write', run: (log) => log.setStreamMetadata('m', { maxCount: 5 }) },
  deleteStream: { scope: 'write', run: (log) => log.deleteStream('m') },
  getStreamMetadata: { scope: 'read', run: (log) => log.getStreamMetadata('m') },
  erase: { scope: 'admin', run: (log) => log.erase(`erased-${erasures++}`) },
};

/** Every HTTP route, with the scope it needs. */
const HTTP_ROUTES: Array<{ method: string; path: string; body?: unknown; scope: 'read' | 'write' | 'admin' }> = [
  { method: 'POST', path: '/streams/s', body: [{ type: 'T' }], scope: 'write' },
  { method: 'POST', path: '/streams/e/0', body: { type: 'T' }, scope: 'write' },
  { method: 'POST', path: '/append-many', body: [{ stream: 's', events: [{ type: 'T' }] }], scope: 'write' },
  { method: 'POST', path: '/transient/s', body: { type: 'T' }, scope: 'write' },
  { method: 'GET', path: '/streams', scope: 'read' },
  { method: 'GET', path: '/streams/s', scope: 'read' },
  { method: 'GET', path: '/streams/s/count', scope: 'read' },
  { method: 'GET', path: '/streams/s/metadata', scope: 'read' },
  { method: 'PUT', path: '/streams/m/metadata', body: { maxCount: 5 }, scope: 'write' },
  { method: 'DELETE', path: '/streams/d', scope: 'write' },
  { method: 'POST', path: '/streams/x/erase', scope: 'admin' },
  { method: 'POST', path: '/admin/scavenge', scope: 'admin' },
  { method: 'GET', path: '/all', scope: 'read' },
  { method: 'GET', path: '/head', scope: 'read' },
  { method: 'GET', path: '/subscribe?from=end', scope: 'read' },
  { method: 'GET', path: '/metrics', scope: 'admin' },
  { method: 'GET', path: '/models', scope: 'read' },
  { method: 'GET', path: '/console/stats', scope: 'read' },
  { method: 'GET', path: '/models/none', scope: 'read' },
  { method: 'GET', path: '/cluster', scope: 'admin' },
  { method: 'POST', path: '/cluster/members', body: { id: 'n9' }, scope: 'admin' },
  { method: 'DELETE', path: '/cluster/members/n9', scope: 'admin' },
  { method: 'POST', path: '/cluster/leader', body: { id: 'n9' }, scope: 'admin' },
];

describe('security: every operation on every transport', () => {
  it('the matrix covers every operation the server knows', () => {
    const covered = new Set([
      ...Object.keys(CLIENT_OPERATIONS),
      'metrics',
      'cluster',
      'status',
      'raft',
      'models',
      'stats',
      'whoami',
      // Over HTTP (the routes below); the binary protocol does not carry them.
      'getStreamMetadata',
      'setStreamMetadata',
      'deleteStream',
      // Over HTTP only (POST /admin/scavenge).
      'scavenge',
    ]);
    for (const operation of Object.keys(OPERATION_SCOPES))
      assert.ok(covered.has(operation), `${operation} is not in the matrix`);
  });

  for (const transport of ['tcp', 'ws'] as const) {
    it(`${transport}: each operation is refused without the scope it needs and allowed with it (or admin)`, async () => {
      const server = await startTestServer({ auth });
      const url = transport === 'tcp' ? server.urls.tcp : server.urls.ws;
      const clients = {
        read: await connect(url, { token: 'reader-token-1' }),
        write: await connect(url, { token: 'writer-token-1' }),
        admin: await connect(url, { token: 'admin-token-1' }),
      };
      for (const [name, operation] of Object.entries(CLIENT_OPERATIONS)) {
        for (const other of (['read', 'write'] as const).filter((scope) => scope !== operation.scope))
          await assert.rejects(
            operation.run(clients[other]),
            (error: unknown) =>
              error instanceof PermissionDeniedError && error.message.includes(`'${operation.scope}' scope`),
            `${transport} ${name} with a ${other} token`,
          );
        await operation.run(clients[operation.scope]);
        await operation.run(clients.admin);
      }
      for (const client of Object.values(clients)) await client.close();
      await server.close();
    });
  }

  it('http: each route answers 401 without a token and with a wrong one, 403 with too narrow a scope, and not 401/403 with the right one', async () => {
    const server = await startTestServer({ auth });
    const call = async (route: (typeof HTTP_ROUTES)[number], token: string | undefined) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (token) headers.authorization = `Bearer ${token}`;
      const controller = new AbortController();
      const response = await fetch(`${server.urls.http}${route.path}`, {
        method: route.method,
        headers,
        ...(route.body === undefined ? {} : { body: JSON.stringify(route.body) }),
        signal: controller.signal,
      });
      const status = response.status;
      controller.abort(); // an SSE stream would go on
      return status;
    };
    const tokens = { read: 'reader-token-1', write: 'writer-token-1', admin: 'admin-token-1' };
    for (const route of HTTP_ROUTES) {
      const what = `${route.method} ${route.path}`;
      assert.equal(await call(route, undefined), 401, `${what} without a token`);
      assert.equal(await call(route, 'wrong-token-9'), 401, `${what} with a wrong token`);
      for (const scope of ['read', 'write'] as const) {
        if (scope === route.scope) continue;
        assert.equal(await call(route, tokens[scope]), 403, `${what} with a ${scope} token`);
      }
      const allowed = await call(route, tokens[route.scope === 'admin' ? 'admin' : route.scope]);
      assert.ok(allowed !== 401 && allowed !== 403, `${what} with its scope: ${allowed}`);
    }
    await server.close();
  });

  it('binary peer frames (RAFT, SNAPSHOT_READ) need the admin scope and a peer connection: a reader sending them is refused and cut off', async () => {
    const server = await startTestServer({ auth });
    const { hostname, port } = new URL(server.urls.tcp);
    for (const frame of ['raft', 'snapshot'] as const) {
      const socket = netConnect(Number(port), hostname);
      const responses: Response[] = [];
      const decoder = new FrameDecoder(1024 * 1024, (f) => responses.push(readResponse(f)));
      socket.on('data', (chunk) => decoder.push(chunk));
      socket.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const w = new ByteWriter(256);
      writeHello(w, 0, PROTOCOL_VERSION, 'peer:n2', 'reader-token-1');
      if (frame === 'raft') writeRaft(w, [message({ type: 'heartbeat', from: 'n2', to: 'n1', term: 99 })]);
      else
        writeSnapshotFrame(w, {
          type: 'snapshot-read',
          from: 'n2',
          to: 'n1',
          snapshotIndex: 1,
          fromIndex: 1,
          positionHint: 0,
        });
      socket.write(w.take());
      await closed;
      const error = responses.find((r) => r.kind === 'error');
      assert.ok(
        error && error.kind === 'error' && error.error.code === 'PERMISSION_DENIED',
        `${frame}: ${JSON.stringify(responses.map((r) => r.kind))}`,
      );
    }
    assert.equal(server.log.raftStatus().term, 1, 'the refused heartbeat of term 99 did not reach Raft');
    await server.close();
  });

  it('stream names are names, not paths: dots, slashes and encoded traversals create no file outside the data directory', async () => {
    const dir = await tempDir('ordo-names');
    const server = await startTestServer({ dir });
    const client = await connect(server.urls.tcp);
    const before = await readdir(dirname(dir));
    const names = ['../../escape', '/etc/passwd', '..', 'a/../../b', 'C:\\windows', '%2e%2e%2f'];
    for (const name of names) {
      const result = await client.append(name, { type: 'T' });
      assert.equal(result.index, 0, name);
    }
    const viaHttp = await fetch(`${server.urls.http}/streams/${encodeURIComponent('../../via-http')}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ type: 'T' }]),
    });
    assert.equal(viaHttp.status, 201);
    const stored = [];
    for await (const entry of client.streams()) stored.push(entry.stream);
    assert.deepEqual(stored.sort(), [...names, '../../via-http'].sort());
    assert.deepEqual(await readdir(dirname(dir)), before, 'nothing appeared beside the data directory');
    const inside = (await readdir(dir, { recursive: true })).map(String);
    assert.ok(
      inside.every((path) => !path.includes('escape') && !path.includes('passwd') && !path.includes('via-http')),
      `files inside: ${inside.join(', ')}`,
    );
    await client.close();
    await server.close();
  });
});
