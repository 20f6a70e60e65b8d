/**
 * A limit order book with price-time priority: the matching engine. Pure and
 * deterministic: the same orders in the same order give the same trades, on any instance, which
 * is what lets several instances compete to write them (engine.ts).
 */
export interface Order {
  id: string;
  trader: string;
  side: 'buy' | 'sell';
  /** Limit price in integer ticks. */
  price: number;
  quantity: number;
}

export interface Trade {
  buyOrder: string;
  sellOrder: string;
  /** The resting order's price: it was there first. */
  price: number;
  quantity: number;
}

interface Resting {
  id: string;
  price: number;
  remaining: number;
  /** Arrival order, for time priority at one price. */
  seq: number;
}

export interface Book {
  /** Best (highest) bid first; at one price, oldest first. */
  bids: Resting[];
  /** Best (lowest) ask first; at one price, oldest first. */
  asks: Resting[];
  seq: number;
}

export function emptyBook(): Book {
  return { bids: [], asks: [], seq: 0 };
}

/** Why an order is refused, or undefined for a valid one. */
export function invalidOrder(order: unknown): string | undefined {
  if (typeof order !== 'object' || order === null) return `expected an order object, got ${JSON.stringify(order)}`;
  const o = order as Partial<Order>;
  if (typeof o.id !== 'string' || o.id === '') return `id ${JSON.stringify(o.id)}: expected a non-empty string`;
  if (o.side !== 'buy' && o.side !== 'sell') return `side ${JSON.stringify(o.side)}: expected "buy" or "sell"`;
  if (!Number.isSafeInteger(o.price) || o.price! <= 0)
    return `price ${JSON.stringify(o.price)}: expected an integer number of ticks > 0`;
  if (!Number.isSafeInteger(o.quantity) || o.quantity! <= 0)
    return `quantity ${JSON.stringify(o.quantity)}: expected an integer > 0`;
  return undefined;
}

/** Matches `order` against the book (changing it) and returns the trades, in execution order. */
export function submit(book: Book, order: Order): Trade[] {
  const trades: Trade[] = [];
  const opposite = order.side === 'buy' ? book.asks : book.bids;
  const crosses = (resting: Resting) =>
    order.side === 'buy' ? resting.price <= order.price : resting.price >= order.price;
  let remaining = order.quantity;
  while (remaining > 0 && opposite.length > 0 && crosses(opposite[0]!)) {
    const best = opposite[0]!;
    const quantity = Math.min(remaining, best.remaining);
    trades.push(
      order.side === 'buy'
        ? { buyOrder: order.id, sellOrder: best.id, price: best.price, quantity }
        : { buyOrder: best.id, sellOrder: order.id, price: best.price, quantity },
    );
    remaining -= quantity;
    best.remaining -= quantity;
    if (best.remaining === 0) opposite.shift();
  }
  if (remaining > 0)
    rest(
      order.side === 'buy' ? book.bids : book.asks,
      { id: order.id, price: order.price, remaining, seq: book.seq++ },
      order.side,
    );
  return trades;
}

function rest(side: Resting[], resting: Resting, kind: 'buy' | 'sell'): void {
  // Behind every order at a better or equal price (time priority), in front of worse ones.
  const better = (other: Resting) => (kind === 'buy' ? other.price >= resting.price : other.price <= resting.price);
  let at = side.length;
  while (at > 0 && !better(side[at - 1]!)) at--;
  side.splice(at, 0, resting);
}
