import { pathToFileURL } from 'node:url';
import { DONE, EMPTY, EventStream, type StreamSubscription } from '../src/stream/index.js';
import { elapsedMs, printTable, rate, type BenchRow } from './report.js';

interface Value {
  position: number;
  size: number;
}

/**
 * Fan-out of the in-process EventStream: one publisher, N subscribers that each read every
 * value. The publisher publishes in bursts and yields so the subscribers run.
 */
export async function benchEventStream(options: { events: number }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  await fanOut(Math.min(200_000, options.events), 4, 'pull'); // warm up the JIT before measuring
  // Median of three runs: a single run swings with whatever garbage earlier benchmarks left.
  for (const subscribers of [1, 10, 100]) {
    const events = subscribers === 100 ? Math.max(100_000, Math.floor(options.events / 4)) : options.events;
    const rates = await runs(() => fanOut(events, subscribers, 'pull'), events * subscribers);
    rows.push({ group: 'EventStream', name: `fan-out N=${subscribers}, pull/wait`, value: rates.median, unit: 'deliveries/s', note: `median of 3 (${range(rates)}); ${(rates.median / subscribers / 1e6).toFixed(1)}M events/s published` });
  }
  const events = Math.floor(options.events / 4);
  const rates = await runs(() => fanOut(events, 1, 'for-await'), events);
  rows.push({ group: 'EventStream', name: 'fan-out N=1, for await', value: rates.median, unit: 'deliveries/s', note: `median of 3 (${range(rates)})` });
  return rows;
}

async function runs(run: () => Promise<number>, deliveries: number): Promise<{ median: number; min: number; max: number }> {
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) rates.push(rate(deliveries, await run()));
  rates.sort((a, b) => a - b);
  return { median: rates[1]!, min: rates[0]!, max: rates[2]! };
}

function range(rates: { min: number; max: number }): string {
  return `${(rates.min / 1e6).toFixed(1)}–${(rates.max / 1e6).toFixed(1)}M`;
}

async function fanOut(events: number, subscribers: number, mode: 'pull' | 'for-await'): Promise<number> {
  const stream = new EventStream<Value>();
  const sums: number[] = [];
  const consumers = Array.from({ length: subscribers }, () => {
    const subscription = stream.subscribe();
    return mode === 'pull' ? consumePull(subscription, sums) : consumeForAwait(subscription, sums);
  });
  const values = Array.from({ length: 1000 }, (_, i) => ({ position: i, size: 100 }));
  const start = process.hrtime.bigint();
  for (let i = 0; i < events; i++) {
    stream.publish(values[i % 1000]!);
    if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
  }
  stream.close();
  await Promise.all(consumers);
  const ms = elapsedMs(start);
  if (sums.some((sum) => sum !== sums[0])) throw new Error('subscribers disagree');
  return ms;
}

async function consumePull(subscription: StreamSubscription<Value>, sums: number[]): Promise<void> {
  let sum = 0;
  for (;;) {
    let value = subscription.pull();
    while (value !== EMPTY && value !== DONE) {
      sum += value.size;
      value = subscription.pull();
    }
    if (value === DONE || !(await subscription.wait())) {
      for (let v = subscription.pull(); v !== EMPTY && v !== DONE; v = subscription.pull()) sum += v.size;
      sums.push(sum);
      return;
    }
  }
}

async function consumeForAwait(subscription: StreamSubscription<Value>, sums: number[]): Promise<void> {
  let sum = 0;
  for await (const value of subscription) sum += value.size;
  sums.push(sum);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await benchEventStream({ events: 2_000_000 }));
}
