import type { EventLog } from '../../src/index.js';
import { ORDERS } from './engine.js';
import type { Order } from './order-book.js';

/** A seeded generator (mulberry32): the same seed gives the same orders. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` orders around a price of 1000 ticks: buys a little below, sells a little above, so about half cross. */
export function generateOrders(count: number, seed = 42): Order[] {
  const next = random(seed);
  return Array.from({ length: count }, (_, i) => {
    const side = next() < 0.5 ? 'buy' : 'sell';
    const price = 1000 + Math.floor(next() * 21) - 10 + (side === 'buy' ? -2 : 2);
    return { id: `o-${i}`, trader: `t-${Math.floor(next() * 20)}`, side, price, quantity: 1 + Math.floor(next() * 50) };
  });
}

/** Appends the orders to `orders`, `inFlight` at a time, in order of their index within each worker. */
export async function placeOrders(log: EventLog, orders: readonly Order[], inFlight = 16): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < orders.length) {
        const order = orders[next++]!;
        await log.append(ORDERS, { type: 'OrderPlaced', data: { ...order } });
      }
    }),
  );
}
