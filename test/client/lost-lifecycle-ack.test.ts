import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import type { RemoteEventLog } from '../../src/client/remote-log.js';
import type { OrdoServer } from '../../src/server/server.js';
import { collect } from '../conformance/event-log-suite.js';
import { CuttingProxy } from '../support/cutting-proxy.js';
import { startTestServer } from '../support/server.js';

interface Setup {
  server: OrdoServer;
  proxy: CuttingProxy;
  log: RemoteEventLog;
}

/** A client behind a proxy that can lose answers, and a stream `orders` of two events. */
async function setUp(): Promise<Setup> {
  const server = await startTestServer();
  const proxy = await CuttingProxy.start(server.urls.tcp);
  const log = await connect(proxy.url, { reconnectDelayMs: 10, maxReconnectDelayMs: 50 });
  await log.append('orders', [{ type: 'Opened' }, { type: 'Paid' }]);
  return { server, proxy, log };
}

/** Runs `change` with its first answer lost: the request was written, the connection is cut, the client re-sends it. */
async function withLostAnswer<T>(proxy: CuttingProxy, change: () => Promise<T>): Promise<T> {
  proxy.dropAnswers = true;
  const cuts = proxy.cuts;
  const result = await change();
  assert.equal(proxy.cuts, cuts + 1, 'the first answer was lost');
  return result;
}

async function metadataEvents(log: RemoteEventLog): Promise<string[]> {
  return (await collect(log.read('$$orders'))).map((event) => event.type);
}

async function tearDown({ server, proxy, log }: Setup): Promise<void> {
  await log.close();
  await proxy.close();
  await server.close();
}

describe('connect(): a stream lifecycle change whose answer is lost is re-sent and applied once', () => {
  it('a metadata change with an expected count is answered with its place, not refused as a conflict', async () => {
    const setup = await setUp();
    const { log, proxy } = setup;
    const result = await withLostAnswer(proxy, () => log.setStreamMetadata('orders', { maxCount: 1 }, { expected: 0 }));
    assert.deepEqual(result, { position: 2, metadataCount: 1 });
    assert.deepEqual(await metadataEvents(log), ['$metadata'], 'written once');
    assert.deepEqual((await log.getStreamMetadata('orders')).metadata, { maxCount: 1 });
    await tearDown(setup);
  });

  it('a soft delete (whose expected count still holds after it) is written once', async () => {
    const setup = await setUp();
    const { log, proxy } = setup;
    const result = await withLostAnswer(proxy, () => log.deleteStream('orders', { expected: 2 }));
    assert.deepEqual(result, { position: 2 });
    assert.deepEqual(await metadataEvents(log), ['$deleted'], 'written once');
    const state = await log.getStreamMetadata('orders');
    assert.deepEqual(
      { metadataCount: state.metadataCount, deleted: state.deleted },
      { metadataCount: 1, deleted: true },
    );
    await tearDown(setup);
  });

  it('a tombstone is answered with its place, not refused because the stream is now tombstoned', async () => {
    const setup = await setUp();
    const { log, proxy } = setup;
    const result = await withLostAnswer(proxy, () => log.deleteStream('orders', { tombstone: true }));
    assert.deepEqual(result, { position: 2 });
    assert.deepEqual(await metadataEvents(log), ['$tombstone'], 'written once');
    assert.equal((await log.getStreamMetadata('orders')).tombstoned, true);
    await tearDown(setup);
  });
});
