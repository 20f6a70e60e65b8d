import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import { AbortedError, TimeoutError, UnavailableError } from '../../src/types/index.js';
import { CuttingProxy } from '../support/cutting-proxy.js';
import { startTestServer } from '../support/server.js';

describe('connect(): deadlines and AbortSignal', () => {
  it('a server that stops answering: TIMEOUT after timeoutMs, naming the operation', async () => {
    const server = await startTestServer();
    const proxy = await CuttingProxy.start(server.urls.tcp);
    const log = await connect(proxy.url, { timeoutMs: 400 });
    await log.append('s', { type: 'T' });
    proxy.swallowAnswers = true;
    const started = Date.now();
    await assert.rejects(
      log.count('s'),
      (error: unknown) =>
        error instanceof TimeoutError &&
        error.code === 'TIMEOUT' &&
        /count got no answer within 400 ms/.test(error.message),
    );
    assert.ok(Date.now() - started < 2000);
    await log.close();
    await proxy.close();
    await server.close();
  });

  it('no server at all: connect fails with UNAVAILABLE; a request made while it is gone fails with UNAVAILABLE at its deadline', async () => {
    await assert.rejects(
      connect('ordo://127.0.0.1:1', { connectTimeoutMs: 300 }),
      (error: unknown) => error instanceof UnavailableError && /no Ordo server reachable/.test(error.message),
    );
    const server = await startTestServer();
    const log = await connect(server.urls.tcp, { timeoutMs: 400, reconnectDelayMs: 50 });
    await server.close();
    await assert.rejects(
      log.append('s', { type: 'T' }),
      (error: unknown) => error instanceof UnavailableError && /append: no connection/.test(error.message),
    );
    await log.close();
  });

  it('an AbortSignal ends the wait for an append with ABORTED', async () => {
    const server = await startTestServer();
    const proxy = await CuttingProxy.start(server.urls.tcp);
    const log = await connect(proxy.url);
    proxy.swallowAnswers = true;
    const controller = new AbortController();
    const append = log.append('s', { type: 'T' }, { signal: controller.signal });
    controller.abort();
    await assert.rejects(append, (error: unknown) => error instanceof AbortedError && error.code === 'ABORTED');
    await assert.rejects(
      log.append('s', { type: 'T' }, { signal: AbortSignal.abort() }),
      AbortedError,
      'an already aborted signal fails at once',
    );
    await log.close();
    await proxy.close();
    await server.close();
  });
});
