/**
 * `npm run example:matching-engine [-- --url ordo://… --orders N]`: three competing instances of
 * the matching engine on one log (an embedded one in a temporary directory, or a server), a
 * load of orders, and what each instance did.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect, open, type EventLog } from '../../src/index.js';
import { TRADES, startEngine } from './engine.js';
import { generateOrders, placeOrders } from './load.js';

const { values } = parseArgs({ options: { url: { type: 'string' }, orders: { type: 'string', default: '5000' } } });
const count = Number(values.orders);
if (!Number.isSafeInteger(count) || count < 1) throw new Error(`--orders ${values.orders}: expected an integer >= 1`);
const dir = values.url ? undefined : await mkdtemp(join(tmpdir(), 'ordo-matching-'));
const log: EventLog = values.url ? await connect(values.url) : await open(dir!);
try {
  const engines = await Promise.all([0, 1, 2].map(() => startEngine(log)));
  const before = await log.count(TRADES);
  const start = performance.now();
  await placeOrders(log, generateOrders(count));
  const placed = performance.now();
  while (engines.some((engine) => engine.stats().inputs < count))
    await new Promise((resolve) => setTimeout(resolve, 20));
  while ((await log.count(TRADES)) < before + engines[0]!.stats().outputs)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const done = performance.now();
  console.log(
    `${count} orders placed in ${(placed - start).toFixed(0)} ms; ${(await log.count(TRADES)) - before} trades written; all matched ${(done - start).toFixed(0)} ms after the first order`,
  );
  engines.forEach((engine, i) => {
    const { inputs, outputs, written, alreadyThere } = engine.stats();
    console.log(
      `  instance ${i + 1}: ${inputs} orders, ${outputs} trades computed, ${written} written by it, ${alreadyThere} already written by another`,
    );
  });
  for await (const trade of log.read(TRADES, { backwards: true, limit: 3 }))
    console.log(`  last trades: #${trade.index} ${new TextDecoder().decode(trade.data)}`);
  await Promise.all(engines.map((engine) => engine.stop()));
} finally {
  await log.close();
  if (dir) await rm(dir, { recursive: true, force: true });
}
