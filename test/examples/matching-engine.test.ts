import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { open, outputId, type Event, type EventLog, type Transform } from '../../src/index.js';
import { ORDERS, TRADES, startEngine } from '../../examples/matching-engine/engine.js';
import { generateOrders, placeOrders } from '../../examples/matching-engine/load.js';
import { emptyBook, submit } from '../../examples/matching-engine/order-book.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

async function all(log: EventLog, stream: string): Promise<Event[]> {
  const events: Event[] = [];
  for await (const event of log.read(stream)) events.push(event);
  return events;
}

/** The events of `stream` once it holds `count` (transforms write their outputs asynchronously). */
async function whenAll(log: EventLog, stream: string, count: number): Promise<Event[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const events = await all(log, stream);
    if (events.length >= count || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const decoded = (events: Event[]) =>
  events.map((e) => ({ id: e.id, index: e.index, type: e.type, data: new TextDecoder().decode(e.data) }));

describe('example: matching engine, competing deterministic transforms', () => {
  it('the order book matches at the resting price, oldest first, and rests the remainder', () => {
    const book = emptyBook();
    assert.deepEqual(submit(book, { id: 's1', trader: 'a', side: 'sell', price: 101, quantity: 5 }), []);
    assert.deepEqual(submit(book, { id: 's2', trader: 'b', side: 'sell', price: 100, quantity: 5 }), []);
    assert.deepEqual(submit(book, { id: 's3', trader: 'c', side: 'sell', price: 100, quantity: 5 }), []);
    assert.deepEqual(submit(book, { id: 'b1', trader: 'd', side: 'buy', price: 101, quantity: 12 }), [
      { buyOrder: 'b1', sellOrder: 's2', price: 100, quantity: 5 },
      { buyOrder: 'b1', sellOrder: 's3', price: 100, quantity: 5 },
      { buyOrder: 'b1', sellOrder: 's1', price: 101, quantity: 2 },
    ]);
    assert.deepEqual(
      book.asks.map((a) => [a.id, a.remaining]),
      [['s1', 3]],
    );
    assert.deepEqual(submit(book, { id: 'b2', trader: 'd', side: 'buy', price: 99, quantity: 1 }), []);
    assert.deepEqual(
      book.bids.map((b) => b.id),
      ['b2'],
    );
  });

  it('three competing instances stopped and restarted at random write the trades of a single-instance run, once each', async () => {
    const orders = generateOrders(1500, 7);
    // The competing run: three instances, one of them stopped and restarted every few ms.
    const competing = await open(await tempDir('ordo-matching'));
    const engines: Array<Transform | undefined> = await Promise.all([0, 1, 2].map(() => startEngine(competing)));
    let seed = 99;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let restarts = 0;
    let placing = true;
    const chaos = (async () => {
      while (placing) {
        const victim = Math.floor(random() * 3);
        await engines[victim]?.stop();
        engines[victim] = undefined;
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 15)));
        engines[victim] = await startEngine(competing);
        restarts++;
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 15)));
      }
    })();
    await placeOrders(competing, orders);
    placing = false;
    await chaos;
    // The reference: the same orders, in the log's order, through one instance on another log.
    const placed = await all(competing, ORDERS);
    const reference = await open(await tempDir('ordo-matching-reference'));
    for (const order of placed)
      await reference.append(ORDERS, { type: order.type, data: JSON.parse(new TextDecoder().decode(order.data)) });
    const single = await startEngine(reference);
    await until('the reference run to finish', () => single.stats().inputs === placed.length || undefined, 30_000);
    const expectedCount = single.stats().outputs;
    const referenceTrades = await whenAll(reference, TRADES, expectedCount);
    const competingTrades = await whenAll(competing, TRADES, expectedCount);
    assert.ok(expectedCount > 300, `the load makes trades (${expectedCount})`);
    assert.ok(restarts >= 5, `instances were restarted ${restarts} times`);
    assert.deepEqual(
      decoded(competingTrades),
      decoded(referenceTrades),
      'the same trades, in the same order, with the same ids',
    );
    assert.deepEqual(
      competingTrades.map((t) => t.id),
      competingTrades.map((_, k) => outputId(TRADES, k)),
      'one copy of each: the k-th trade has the k-th derived id',
    );
    for (const engine of [...engines, single]) await engine?.stop();
    await competing.close();
    await reference.close();
  });

  it('an invalid order becomes a Rejected output naming the field, not a crash', async () => {
    const log = await open(await tempDir('ordo-matching-bad'));
    const engine = await startEngine(log);
    await log.append(ORDERS, {
      type: 'OrderPlaced',
      data: { id: 'x', trader: 't', side: 'buy', price: -3, quantity: 1 },
    });
    await until('the rejection', () => engine.stats().outputs === 1 || undefined);
    const rejected = await whenAll(log, TRADES, 1);
    assert.equal(rejected[0]?.type, 'Rejected');
    assert.match(new TextDecoder().decode(rejected[0]!.data), /price -3: expected an integer number of ticks > 0/);
    await engine.stop();
    await log.close();
  });

  it('`npm run example:matching-engine` runs three instances and reports', () => {
    const main = fileURLToPath(new URL('../../examples/matching-engine/main.js', import.meta.url));
    const run = spawnSync(process.execPath, [main, '--orders', '800'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /800 orders placed in \d+ ms; \d+ trades written/);
    assert.equal((run.stdout.match(/instance \d: 800 orders/g) ?? []).length, 3);
  });
});
