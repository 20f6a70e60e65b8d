import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import { collect } from '../conformance/event-log-suite.js';
import { CuttingProxy } from '../support/cutting-proxy.js';
import { startTestServer } from '../support/server.js';

describe('connect(): an append whose acknowledgement is lost is re-sent and not duplicated', () => {
  for (const [label, expected] of [
    ["expected 'any' (the id window remembers the retry key)", undefined],
    ['an expected count, after the id window forgot the key (ids compared on disk)', 1],
  ] as const) {
    it(label, async () => {
      // A one-entry id window: the retry key is forgotten as soon as anything else is written.
      const server = await startTestServer(expected === undefined ? {} : { log: { idWindow: { maxCount: 1 } } });
      const proxy = await CuttingProxy.start(server.urls.tcp);
      const log = await connect(proxy.url, { reconnectDelayMs: 10, maxReconnectDelayMs: 50 });
      await log.append('orders', { type: 'Opened' });
      proxy.dropAnswers = true;
      const lost = log.append('orders', [{ type: 'Paid' }, { type: 'Shipped' }], { expected });
      // Meanwhile another writer moves the log on (and, with the small window, evicts the key).
      const other = await connect(server.urls.tcp);
      while (proxy.cuts === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      await other.append('audit', { type: 'Noted', id: '00000000-0000-4000-8000-00000000000a' });
      const result = await lost; // answered after the reconnect, by recognizing the re-sent request
      assert.equal(proxy.cuts, 1, 'the first answer was lost');
      assert.deepEqual(result, { position: 1, index: 1, count: 3 });
      const events = await collect(log.read('orders'));
      assert.deepEqual(
        events.map((e) => e.type),
        ['Opened', 'Paid', 'Shipped'],
        'written once',
      );
      await other.close();
      await log.close();
      await proxy.close();
      await server.close();
    });
  }
});
