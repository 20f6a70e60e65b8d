import { pathToFileURL } from 'node:url';
import {
  DONE as DONE_EXPORT,
  EMPTY as EMPTY_EXPORT,
  EventStream,
  type StreamSubscription,
} from '../src/stream/index.js';
import { printTable, type BenchRow } from './report.js';

// Module-local copies: comparing against an imported binding in the consumer's inner loop costs
// a check on every comparison (imports are live bindings), which measured ~2x at N=1 and ~15%
// at N=100 on Node 20. Consumers that want the fast path should do the same.
const EMPTY: typeof EMPTY_EXPORT = EMPTY_EXPORT;
const DONE: typeof DONE_EXPORT = DONE_EXPORT;

interface Value {
  position: number;
  size: number;
}

const BURST = 1000;

/**
 * Fan-out of the in-process EventStream: one publisher, N subscribers that each read every
 * value and sum a field of it (checked against the expected total, so the reads are real).
 * The publisher publishes bursts of 1000 values and yields to the event loop after each, so
 * subscribers run between bursts. Each figure is the median of three runs after a JIT warm-up;
 * single runs swing widely on a shared VM.
 */
export async function benchEventStream(options: { events: number }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  await fanOut(Math.min(200_000, options.events), 4, 'pull');
  await fanOut(Math.min(50_000, options.events), 1, 'for-await');
  for (const subscribers of [1, 10, 100]) {
    // N=100 moves 100 deliveries per event: a quarter of the events is still 25x the deliveries of N=1.
    const events = subscribers === 100 ? Math.max(100_000, Math.floor(options.events / 4)) : options.events;
    const rates = await medianOf3(() => fanOut(events, subscribers, 'pull'));
    const published = `${millions(rates.median / subscribers)} events/s published`;
    rows.push(
      subscribers === 1
        ? {
            group: 'EventStream',
            name: 'fan-out N=1, pull/wait',
            value: rates.median,
            unit: 'events/s',
            note: `median of 3 (${spread(rates)}); = deliveries/s at N=1`,
          }
        : {
            group: 'EventStream',
            name: `fan-out N=${subscribers}, pull/wait`,
            value: rates.median,
            unit: 'deliveries/s',
            note: `median of 3 (${spread(rates)}); ${published}`,
          },
    );
  }
  const events = Math.max(100_000, Math.floor(options.events / 4));
  const rates = await medianOf3(() => fanOut(events, 1, 'for-await'));
  rows.push({
    group: 'EventStream',
    name: 'fan-out N=1, for await',
    value: rates.median,
    unit: 'events/s',
    note: `median of 3 (${spread(rates)})`,
  });
  return rows;
}

interface Rates {
  median: number;
  min: number;
  max: number;
}

async function medianOf3(run: () => Promise<number>): Promise<Rates> {
  const rates = [await run(), await run(), await run()].sort((a, b) => a - b);
  return { median: rates[1]!, min: rates[0]!, max: rates[2]! };
}

const millions = (value: number) => `${(value / 1e6).toFixed(1)}M`;
const spread = (rates: Rates) => `${millions(rates.min)}–${millions(rates.max)}`;

/** Publishes `events` values to `subscribers` consumers; returns deliveries per second. */
async function fanOut(events: number, subscribers: number, mode: 'pull' | 'for-await'): Promise<number> {
  const stream = new EventStream<Value>();
  // Small sizes keep every sum a small integer, so no run pays for a switch to doubles midway.
  const values = Array.from({ length: BURST }, (_, i) => ({ position: i, size: (i % 7) + 1 }));
  let expected = 0;
  for (let i = 0; i < events; i++) expected += values[i % BURST]!.size;
  const consumers: Promise<number>[] = [];
  for (let s = 0; s < subscribers; s++) {
    const subscription = stream.subscribe();
    consumers.push(mode === 'pull' ? consumePull(subscription) : consumeForAwait(subscription));
  }
  const start = process.hrtime.bigint();
  for (let i = 0; i < events; i++) {
    stream.publish(values[i % BURST]!);
    if (i % BURST === BURST - 1) await new Promise((resolve) => setImmediate(resolve));
  }
  stream.close();
  const sums = await Promise.all(consumers);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  for (const sum of sums) if (sum !== expected) throw new Error(`a subscriber summed ${sum}, expected ${expected}`);
  return (events * subscribers) / seconds;
}

async function consumePull(subscription: StreamSubscription<Value>): Promise<number> {
  let sum = 0;
  for (;;) {
    let value = subscription.pull();
    while (value !== EMPTY && value !== DONE) {
      sum += value.size;
      value = subscription.pull();
    }
    if (value === DONE) return sum;
    await subscription.wait();
  }
}

async function consumeForAwait(subscription: StreamSubscription<Value>): Promise<number> {
  let sum = 0;
  for await (const value of subscription) sum += value.size;
  return sum;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await benchEventStream({ events: 2_000_000 }));
}
