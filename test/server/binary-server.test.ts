import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect as netConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { connect } from '../../src/client/index.js';
import {
  ByteWriter,
  FrameDecoder,
  FrameType,
  PROTOCOL_VERSION,
  readResponse,
  writeHello,
  type Response,
} from '../../src/protocol/index.js';
import { writeCount, writeRead, writeReadAll, writeStreams, writeSubscribe } from '../../src/protocol/requests.js';
import { tokenAuthenticator } from '../../src/server/auth.js';
import { LimitExceededError, PermissionDeniedError, UnauthenticatedError, type Event } from '../../src/types/index.js';
import { collect, take } from '../conformance/event-log-suite.js';
import { startTestServer } from '../support/server.js';
import { tempDir } from '../support/temp-dir.js';

const auth = tokenAuthenticator([
  { name: 'reader', token: 'reader-token-1', scopes: ['read'] },
  { name: 'writer', token: 'writer-token-1', scopes: ['write'] },
  { name: 'admin', token: 'admin-token-1', scopes: ['admin'] },
]);

/** A raw TCP connection speaking frames by hand, to send what no real client would. */
async function rawConnection(url: string): Promise<{ socket: Socket; responses: Response[]; closed: Promise<void> }> {
  const { hostname, port } = new URL(url);
  const socket = netConnect(Number(port), hostname);
  await new Promise((resolve) => socket.once('connect', resolve));
  const responses: Response[] = [];
  const decoder = new FrameDecoder(64 * 1024 * 1024, (frame) => responses.push(readResponse(frame)));
  socket.on('data', (chunk) => decoder.push(chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, responses, closed };
}

function hello(token = ''): Uint8Array {
  const writer = new ByteWriter(256);
  writeHello(writer, 0, PROTOCOL_VERSION, 'raw-test', token);
  return writer.take();
}

describe('server: auth on the binary transports', () => {
  for (const transport of ['tcp', 'ws'] as const) {
    it(`${transport}: no token or an unknown token is refused; each scope allows only its operations`, async () => {
      const server = await startTestServer({ auth });
      const url = transport === 'tcp' ? server.urls.tcp : server.urls.ws;
      await assert.rejects(
        connect(url),
        (error: unknown) => error instanceof UnauthenticatedError && /requires a token/.test(error.message),
      );
      await assert.rejects(connect(url, { token: 'guess-guess' }), UnauthenticatedError);

      const writer = await connect(url, { token: 'writer-token-1' });
      const reader = await connect(url, { token: 'reader-token-1' });
      await writer.append('s', { type: 'T' });
      await assert.rejects(
        reader.append('s', { type: 'T' }),
        (error: unknown) =>
          error instanceof PermissionDeniedError &&
          error.code === 'PERMISSION_DENIED' &&
          /'write' scope/.test(error.message),
      );
      await assert.rejects(reader.publishTransient('s', { type: 'T' }), PermissionDeniedError);
      await assert.rejects(
        writer.count('s'),
        (error: unknown) => error instanceof PermissionDeniedError && /'read' scope/.test(error.message),
      );
      await assert.rejects(collect(writer.readAll()), PermissionDeniedError);
      await assert.rejects(writer.subscribe().next(), PermissionDeniedError, 'a subscription needs the read scope too');
      await assert.rejects(writer.readAndSubscribe('s'), PermissionDeniedError);
      assert.equal(await reader.count('s'), 1);
      assert.equal(((await take(reader.subscribe(), 1))[0] as Event).position, 0);
      const admin = await connect(url, { token: 'admin-token-1' });
      await admin.append('s', { type: 'T' });
      assert.equal(await admin.count('s'), 2);
      for (const client of [writer, reader, admin]) await client.close();
      await server.close();
    });
  }
});

describe('server: malformed frames close only the connection that sent them', () => {
  it('garbage, a bad handshake, an oversized or truncated frame: a PROTOCOL_ERROR, then the connection closes', async () => {
    const server = await startTestServer({ limits: { maxFrameBytes: 1024 * 1024 } });
    const client = await connect(server.urls.tcp);
    const cases: Array<[string, Uint8Array[]]> = [
      ['not a frame', [new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n')]],
      ['a request before HELLO', [frame(FrameType.HEAD, new Uint8Array(0))]],
      ['a newer protocol version', [helloVersion(99)]],
      ['a frame over the maximum size', [hello(), u32(64 * 1024 * 1024)]],
      ['a frame shorter than its header', [hello(), u32(3)]],
      ['an APPEND whose payload is cut short', [hello(), frame(FrameType.APPEND, new Uint8Array([2, 0, 0, 0]))]],
      ['an unknown frame type', [hello(), frame(0x6e, new Uint8Array(0))]],
    ];
    for (const [name, chunks] of cases) {
      const raw = await rawConnection(server.urls.tcp);
      for (const chunk of chunks) raw.socket.write(chunk);
      await raw.closed;
      const error = raw.responses.find((r) => r.kind === 'error');
      assert.ok(
        error && error.kind === 'error' && error.error.code === 'PROTOCOL_ERROR',
        `${name}: got ${JSON.stringify(raw.responses.map((r) => r.kind))}`,
      );
      // Every other client is still served.
      assert.equal(
        (await client.append('still-here', { type: 'T' })).count,
        cases.indexOf(cases.find((c) => c[0] === name)!) + 1,
        name,
      );
    }
    await client.close();
    await server.close();
  });

  it('slowloris: a connection that does not complete its HELLO, or an HTTP request whose headers trickle in, is closed after the handshake timeout; others are served meanwhile', async () => {
    const server = await startTestServer({ limits: { handshakeTimeoutMs: 300 } });
    const client = await connect(server.urls.tcp);
    const started = Date.now();
    const silent = await rawConnection(server.urls.tcp);
    const trickling = await rawConnection(server.urls.tcp);
    // Half a HELLO frame, then nothing more.
    trickling.socket.write(hello().subarray(0, 6));
    const { hostname, port } = new URL(server.urls.http);
    const http = netConnect(Number(port), hostname);
    http.on('error', () => undefined);
    let httpAnswer = '';
    http.on('data', (chunk) => (httpAnswer += chunk.toString()));
    const httpClosed = new Promise<void>((resolve) => http.once('close', () => resolve()));
    const header = 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ';
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < header.length) http.write(header[sent++]!);
      else http.write('a');
    }, 50);
    for (let i = 0; i < 5; i++)
      assert.equal((await client.append('busy', { type: 'T' })).index, i, 'a normal client is served meanwhile');
    // A client whose HELLO is held up on the way gets TIMEOUT, which is not fatal: it reconnects and is served.
    const { port: serverPort } = new URL(server.urls.tcp);
    let connections = 0;
    const slowPath = createServer((inbound) => {
      const hold = connections++ === 0 ? 800 : 0;
      const outbound = netConnect(Number(serverPort), '127.0.0.1');
      inbound.on('data', (chunk) => setTimeout(() => outbound.writable && outbound.write(chunk), hold));
      outbound.on('data', (chunk) => inbound.writable && inbound.write(chunk));
      const close = () => {
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on('close', close).on('error', close);
      outbound.on('close', close).on('error', close);
    });
    await new Promise<void>((resolve) => slowPath.listen(0, '127.0.0.1', () => resolve()));
    const late = await connect(`ordo://127.0.0.1:${(slowPath.address() as AddressInfo).port}`, {
      reconnectDelayMs: 10,
    });
    assert.equal((await late.append('busy', { type: 'T' })).index, 5);
    assert.ok(connections >= 2, 'it reconnected after the TIMEOUT');
    await late.close();
    slowPath.close();
    await Promise.all([silent.closed, trickling.closed]);
    const binaryMs = Date.now() - started;
    for (const raw of [silent, trickling]) {
      const error = raw.responses.find((r) => r.kind === 'error');
      assert.ok(
        error &&
          error.kind === 'error' &&
          error.error.code === 'TIMEOUT' &&
          /handshake \(HELLO\) got no answer within 300 ms/.test(error.error.message),
        JSON.stringify(error),
      );
    }
    await httpClosed;
    clearInterval(drip);
    assert.ok(binaryMs < 3_000, `the idle binary connections were closed after ${binaryMs} ms`);
    assert.match(httpAnswer, /^HTTP\/1\.1 408/, 'the trickling HTTP request got 408 Request Timeout');
    assert.ok(Date.now() - started < 5_000, 'within a few seconds');
    await client.close();
    await server.close();
  });

  it('fuzz: random frames after a valid handshake never stop the server from serving others', async () => {
    const server = await startTestServer();
    const client = await connect(server.urls.tcp);
    const types = Object.values(FrameType);
    const frames = fc.sample(
      fc.tuple(
        fc.oneof(fc.constantFrom(...types), fc.integer({ min: 0, max: 255 })),
        fc.uint8Array({ maxLength: 200 }),
      ),
      { numRuns: 300, seed: 20261124 },
    );
    for (let i = 0; i < frames.length; i += 30) {
      const raw = await rawConnection(server.urls.tcp);
      raw.socket.write(hello());
      for (const [type, payload] of frames.slice(i, i + 30)) raw.socket.write(frame(type, payload));
      raw.socket.end();
      await raw.closed;
      assert.ok(raw.responses.length >= 1, 'the handshake was answered');
      await client.append('alive', { type: 'T', data: i });
    }
    assert.equal(await client.count('alive'), 10);
    // Mutated valid requests: one to three bytes of real read, subscribe, count and streams
    // frames changed (headers, lengths, counts, flags, filters), so most are decoded deep.
    const w = new ByteWriter(1024);
    writeRead(w, 2, 'alive', 0, 10, false);
    writeReadAll(w, 3, 0, 10, { streams: ['alive'], types: ['T'] });
    writeSubscribe(w, 4, 0, { prefixes: ['a'] }, true, 100);
    writeCount(w, 5, 'alive');
    writeStreams(w, 6, '', '', 10);
    const valid = w.take();
    const mutations = fc.sample(
      fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
      { numRuns: 200, seed: 20261201 },
    );
    for (let i = 0; i < mutations.length; i += 20) {
      const raw = await rawConnection(server.urls.tcp);
      raw.socket.write(hello());
      for (const mutation of mutations.slice(i, i + 20)) {
        const bytes = Uint8Array.from(valid);
        for (const [at, value] of mutation) bytes[at] = value;
        raw.socket.write(bytes);
      }
      raw.socket.end();
      await raw.closed;
      await client.append('alive', { type: 'T', data: i });
    }
    assert.equal(await client.count('alive'), 20);
    for await (const event of client.readAll()) assert.equal(typeof event.position, 'number');
    await client.close();
    await server.close();
  });

  it('limits: a connection gets at most maxSubscriptions subscriptions, then LIMIT_EXCEEDED', async () => {
    const server = await startTestServer({ limits: { maxSubscriptions: 2 } });
    const client = await connect(server.urls.tcp);
    await client.append('s', { type: 'T' });
    const first = client.subscribe();
    const second = client.subscribe();
    assert.equal(((await first.next()).value as Event).position, 0);
    assert.equal(((await second.next()).value as Event).position, 0);
    await assert.rejects(
      client.subscribe().next(),
      (error: unknown) => error instanceof LimitExceededError && /limit is 2/.test(error.message),
    );
    first.close();
    await new Promise((resolve) => setTimeout(resolve, 50)); // the UNSUBSCRIBE reaches the server
    assert.equal(
      ((await client.subscribe().next()).value as Event).position,
      0,
      'a closed subscription frees its slot',
    );
    await client.close();
    await server.close();
  });
});

describe('server: WebSocket', () => {
  it('requests made in one turn that add up to more than a WebSocket message (and the frame limit) all go through', async () => {
    const server = await startTestServer({ limits: { maxFrameBytes: 4 * 1024 * 1024 } });
    const client = await connect(server.urls.ws);
    const data = new Uint8Array(1024);
    // ~10 MiB of requests in one turn: more than the server takes in one message.
    const appends = Array.from({ length: 10_000 }, (_, i) => client.append(`s-${i % 4}`, { type: 'T', data }));
    const results = await Promise.all(appends);
    assert.equal(new Set(results.map((r) => r.position)).size, 10_000);
    assert.equal(client.disconnects, 0, 'without a reconnect (the server did not refuse a message as too big)');
    const subscription = client.subscribe({ from: 'start' });
    assert.equal(
      (await take(subscription, 10_000)).length,
      10_000,
      'and the answers and events come back in as many messages as needed',
    );
    subscription.close();
    await client.close();
    await server.close();
  });
});

describe('server: TLS', () => {
  it('serves ordos:// and wss:// with --tls-cert/--tls-key; clients verify the certificate', async () => {
    const dir = await tempDir();
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    const cert = await readFile(join(dir, 'cert.pem'));
    const server = await startTestServer({ tls: { cert, key: await readFile(join(dir, 'key.pem')) } });
    assert.match(server.urls.tcp, /^ordos:\/\//);
    assert.match(server.urls.ws, /^wss:\/\//);
    for (const url of [server.urls.tcp, server.urls.ws]) {
      const client = await connect(url, { tls: { ca: cert } });
      await client.append('secure', { type: 'T' });
      await client.close();
    }
    await assert.rejects(
      connect(server.urls.tcp, { connectTimeoutMs: 1000 }),
      /self-signed|UNAVAILABLE|certificate/i,
      'an unknown certificate is refused',
    );
    const response = await fetch(`${server.urls.http}/health`).catch((error: Error) => error);
    assert.ok(response instanceof Error, 'plain fetch does not trust the self-signed certificate either');
    await server.close();
  });
});

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

function frame(type: number, payload: Uint8Array, requestId = 1): Uint8Array {
  const bytes = new Uint8Array(12 + payload.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 8 + payload.byteLength, true);
  view.setUint8(4, type);
  view.setUint32(8, requestId, true);
  bytes.set(payload, 12);
  return bytes;
}

function helloVersion(version: number): Uint8Array {
  const bytes = hello();
  new DataView(bytes.buffer, bytes.byteOffset).setUint16(12, version, true);
  return bytes;
}
