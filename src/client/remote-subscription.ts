import type { ByteWriter } from '../protocol/bytes.js';
import { EVENTS_HISTORY } from '../protocol/constants.js';
import { writeCredit, writeReadAndSubscribe, writeSubscribe, writeUnsubscribe } from '../protocol/requests.js';
import type { Response } from '../protocol/responses.js';
import { OrdoError } from '../types/errors.js';
import type { Event, Filter, ReadAndSubscribeResult, Subscription, TransientEvent } from '../types/event.js';

type Item = Event | TransientEvent;
const DONE: IteratorResult<Item> = { done: true, value: undefined };

/** Errors after which a subscription is simply re-made (on this or the next connection). */
const RETRYABLE_CODES = new Set(['UNAVAILABLE', 'LOG_CLOSED', 'TIMEOUT']);

/** What a subscription needs from its client. */
export interface SubscriptionHost {
  /** A fresh request id, the encoder to write into, and a flush once written; undefined while disconnected. */
  encode(write: (writer: ByteWriter, id: number) => void): number | undefined;
  register(id: number, subscription: RemoteSubscription): void;
  unregister(id: number): void;
  /** Re-subscribe later (after the server ended the subscription while the connection stayed). */
  later(action: () => void): void;
}

/**
 * A remote catch-up-then-live subscription. The server sends at most `window` events ahead
 * (credit-based flow control); the client grants more as the application consumes them. After a
 * reconnect it subscribes again from the position after the last one the server covered: events
 * already buffered stay, so there is no gap and no duplicate.
 */
export class RemoteSubscription implements Subscription<Item> {
  private buffer: Item[] = [];
  private head = 0;
  private lastPosition: number;
  /** Where a new subscription must start: the position after the last one the server covered. */
  private resumeAt: 'start' | 'end' | number;
  private id: number | undefined;
  private consumedSinceGrant = 0;
  private waiter: { resolve: (result: IteratorResult<Item>) => void; reject: (error: Error) => void } | undefined;
  private finished = false;
  private failure: Error | undefined;
  private readonly onAbort = () => this.close();
  // readAndSubscribe: history until the cut, then live.
  private history: Event[] | undefined;
  private cut: { resolve: (result: ReadAndSubscribeResult) => void; reject: (error: Error) => void } | undefined;

  constructor(
    private readonly host: SubscriptionHost,
    from: 'start' | 'end' | number,
    private filter: Filter | undefined,
    private transient: boolean,
    private readonly window: number,
    private readonly signal: AbortSignal | undefined,
    private readonly historyOf?: string,
    /** Sent while the subscription still starts at 'end' (after a reconnect it resumes at a position). */
    private readonly minPosition?: number,
  ) {
    this.lastPosition = typeof from === 'number' ? from - 1 : -1;
    this.resumeAt = from;
    if (historyOf !== undefined) this.history = [];
    if (signal) {
      if (signal.aborted) this.finished = true;
      else signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /** readAndSubscribe: resolves at the cut. */
  whenCut(): Promise<ReadAndSubscribeResult> {
    return new Promise((resolve, reject) => (this.cut = { resolve, reject }));
  }

  /**
   * The last committed position delivered; once everything received is delivered, the last
   * position the server covered (events a filter skipped count as passed), as with `open()`.
   */
  get position(): number {
    if (this.head === this.buffer.length && typeof this.resumeAt === 'number')
      return Math.max(this.lastPosition, this.resumeAt - 1);
    return this.lastPosition;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Item>> {
    if (this.head < this.buffer.length) return Promise.resolve({ done: false, value: this.take() });
    if (this.failure) return Promise.reject(this.failure);
    if (this.finished) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  async return(): Promise<IteratorResult<Item>> {
    this.close();
    return DONE;
  }

  close(): void {
    if (this.finished && this.id === undefined) return;
    this.finished = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    if (this.id !== undefined) {
      const id = this.id;
      this.host.unregister(id);
      this.host.encode((w) => writeUnsubscribe(w, id));
      this.id = undefined;
    }
    this.buffer = [];
    this.head = 0;
    this.cut?.reject(new OrdoError('ABORTED', 'readAndSubscribe was closed before its history arrived'));
    this.cut = undefined;
    this.wake();
  }

  /** Sends the subscription on the current connection (first time, or after a reconnect). */
  subscribe(): void {
    if (this.finished) return;
    const buffered = this.buffer.length - this.head;
    const credit = Math.max(this.window - buffered, 0);
    this.consumedSinceGrant = 0;
    let id: number | undefined;
    if (this.history !== undefined) {
      this.history = [];
      const stream = this.historyOf!;
      id = this.host.encode((w, requestId) => writeReadAndSubscribe(w, requestId, stream, credit));
    } else {
      const from = this.resumeAt;
      const filter = this.filter;
      const transient = this.transient;
      const minPosition = from === 'end' ? this.minPosition : undefined;
      id = this.host.encode((w, requestId) =>
        writeSubscribe(w, requestId, from, filter, transient, credit, minPosition),
      );
    }
    this.id = id;
    if (id !== undefined) this.host.register(id, this);
  }

  /** The connection is gone: keep what is buffered, subscribe again once reconnected. */
  suspend(): void {
    if (this.id !== undefined) this.host.unregister(this.id);
    this.id = undefined;
  }

  /** Ends the subscription with an error the application sees on its next `next()`. */
  fail(error: Error): void {
    if (this.finished) return;
    this.failure = error;
    this.suspend();
    this.finished = true;
    this.cut?.reject(error);
    this.cut = undefined;
    this.wake();
  }

  onResponse(response: Response): void {
    switch (response.kind) {
      case 'events': {
        if ((response.flags & EVENTS_HISTORY) !== 0) {
          this.history?.push(...response.events);
          return;
        }
        if (response.next > 0 && (typeof this.resumeAt !== 'number' || response.next > this.resumeAt))
          this.resumeAt = response.next;
        if (
          this.lastPosition < 0 &&
          typeof this.resumeAt === 'number' &&
          this.buffer.length === this.head &&
          response.events.length === 0
        ) {
          // The server told where a subscription 'from: end' starts: position reads `from - 1` until the first event.
          this.lastPosition = Math.max(this.lastPosition, this.resumeAt - 1);
        }
        const events = response.events;
        if (events.length === 0) return;
        if (this.head === this.buffer.length) {
          this.buffer = events;
          this.head = 0;
        } else {
          for (const event of events) this.buffer.push(event);
        }
        this.wake();
        return;
      }
      case 'transient':
        this.buffer.push(response.event);
        this.wake();
        return;
      case 'cut': {
        const history = this.history ?? [];
        this.history = undefined;
        // From now on this is a plain subscription to the stream and its transient events.
        this.filter = { streams: [this.historyOf!] };
        this.transient = true;
        this.cut?.resolve({ count: response.count, history, live: this });
        this.cut = undefined;
        return;
      }
      case 'subscriptionEnd':
        // The server is shutting down or lost its log: subscribe again (here or after reconnecting).
        this.suspend();
        this.host.later(() => this.subscribe());
        return;
      case 'error':
        if (RETRYABLE_CODES.has(response.error.code)) {
          this.suspend();
          this.host.later(() => this.subscribe());
        } else {
          this.fail(response.error);
        }
        return;
      default:
    }
  }

  private take(): Item {
    const item = this.buffer[this.head]!;
    this.buffer[this.head++] = undefined as unknown as Item; // let it go
    if (this.head === this.buffer.length) {
      this.buffer = [];
      this.head = 0;
    }
    if (!('transient' in item)) this.lastPosition = item.position;
    // Grant the server what was consumed, in chunks of half the window: one CREDIT frame per
    // half window, and the server never waits for credit while the application keeps up.
    if (++this.consumedSinceGrant >= this.window / 2 && this.id !== undefined) {
      const id = this.id;
      const grant = this.consumedSinceGrant;
      this.consumedSinceGrant = 0;
      this.host.encode((w) => writeCredit(w, id, grant));
    }
    return item;
  }

  private wake(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    if (this.head < this.buffer.length) {
      this.waiter = undefined;
      waiter.resolve({ done: false, value: this.take() });
    } else if (this.failure) {
      this.waiter = undefined;
      waiter.reject(this.failure);
    } else if (this.finished) {
      this.waiter = undefined;
      waiter.resolve(DONE);
    }
  }
}
