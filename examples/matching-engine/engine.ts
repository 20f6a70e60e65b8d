import { eventJson, transform, type EventLog, type Transform } from '../../src/index.js';
import { emptyBook, invalidOrder, submit, type Order } from './order-book.js';

export const ORDERS = 'orders';
export const TRADES = 'trades';

/**
 * One instance of the matching engine: a deterministic transform from `orders` to `trades`
 * (docs/patterns.md). Run several: each computes every trade, and the first to write trade k
 * wins (`existsOrWrite(trades, k)`), so the stream holds each trade once, whoever is alive.
 * An order that is not valid gives a `Rejected` output instead of a trade: deterministically too.
 */
export function startEngine(log: EventLog): Promise<Transform> {
  return transform(log, {
    name: TRADES,
    filter: { streams: [ORDERS] },
    init: emptyBook,
    fn: (event, book) => {
      const order = eventJson<Order>(event);
      const reason = invalidOrder(order);
      if (reason) return { state: book, events: [{ type: 'Rejected', data: { order: event.id, reason } }] };
      return { state: book, events: submit(book, order).map((trade) => ({ type: 'Traded', data: { ...trade } })) };
    },
  });
}
