import type { EventStream, StreamNode } from '../stream/index.js';
import type { Event, Subscription, TransientEvent } from '../types/event.js';

/** What the live EventStream carries: a committed batch (in position order) or a transient event. */
export type LiveItem = Event[] | TransientEvent;

/** What a subscription needs from its log; kept narrow so the same class serves every log. */
export interface SubscriptionSource {
  /** The high-water mark: the last committed position. */
  committed(): number;
  /** Committed events with `from <= position <= to`, in order, one chunk (at least one event). */
  readCommitted(from: number, to: number): Promise<Event[]>;
  /**
   * Catch-up through the stream index: the next committed events of `streams` after `after`
   * (up to `to`), and the position up to which the log is covered by them.
   */
  readStreamsCommitted(
    streams: readonly string[],
    after: number,
    to: number,
  ): Promise<{ events: Event[]; coveredTo: number }>;
  readonly live: EventStream<LiveItem>;
  readonly closed: boolean;
  /** Which events readers may see now (stream metadata); undefined when every event is visible. */
  visibility(): ((event: Event) => boolean) | undefined;
  /** Registers a subscription on the live tail, so the log can detach it when it lags. */
  attach(subscription: LogSubscription): void;
  detach(subscription: LogSubscription): void;
}

type Item = Event | TransientEvent;
const DONE: IteratorResult<Item> = { done: true, value: undefined };

/**
 * Catch-up then live, with no gap and no duplicate:
 *  - disk mode: read committed events after `position` from the segments;
 *  - once `position` reaches the high-water mark, take the EventStream's tail *in the same
 *    synchronous step*; the log publishes a batch in the same step as it moves the mark, so
 *    the tail's first value is exactly the batch after `position`;
 *  - live mode: walk ready nodes; an event at or below `position` is skipped (belt and braces).
 * When the log finds this subscription too far behind the tail it calls `detachFromTail()`:
 * the node is dropped (so the nodes after it can be collected) and the next `next()` goes back
 * to disk mode from `position`. Nothing is skipped and the writer never waits.
 */
export class LogSubscription implements Subscription<Item>, AsyncIterableIterator<Item> {
  private lastPosition: number;
  private node: StreamNode<LiveItem> | undefined;
  private buffer: Item[] = [];
  private bufferIndex = 0;
  private finished = false;
  private readonly stop = new AbortController();
  private readonly onAbort = () => this.close();

  constructor(
    private readonly source: SubscriptionSource,
    from: number,
    private readonly matches: ((event: { stream: string; type: string }) => boolean) | undefined,
    private readonly transient: boolean,
    private readonly signal: AbortSignal | undefined,
    /** When the filter names streams, catch-up reads only their events (through the stream index). */
    private readonly streams?: readonly string[],
  ) {
    this.lastPosition = from - 1;
    if (signal) {
      if (signal.aborted) this.finished = true;
      else signal.addEventListener('abort', this.onAbort, { once: true });
    }
    // Already caught up: take the tail now, so live events (transient ones too) from this
    // moment on are not missed while the caller has not yet called next().
    if (!this.finished && this.lastPosition >= source.committed()) this.attachToTail();
  }

  get position(): number {
    return this.lastPosition;
  }

  /** True while on the live tail (false while catching up from disk). */
  get isLive(): boolean {
    return this.node !== undefined;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Item>> {
    // Fast path: a buffered event needs no async machinery.
    if (this.bufferIndex < this.buffer.length && !this.source.closed) {
      return Promise.resolve({ done: false, value: this.buffer[this.bufferIndex++]! });
    }
    return this.advance();
  }

  private async advance(): Promise<IteratorResult<Item>> {
    for (;;) {
      // A closed log ends its subscriptions at once: it can no longer read from disk, and a
      // consumer resumes from `position` on the reopened log.
      if (this.source.closed) return this.finish();
      if (this.bufferIndex < this.buffer.length) {
        const value = this.buffer[this.bufferIndex++]!;
        return { done: false, value };
      }
      if (this.finished) return this.finish();
      const node = this.node;
      if (node) {
        const next = node.next;
        if (next) {
          this.node = next;
          this.take(node.value!);
          continue;
        }
        const ready = await this.source.live.wait(node, this.stop.signal);
        if (!ready && this.node === node) return this.finish(); // stream closed, or closed/aborted
        continue;
      }
      const highWaterMark = this.source.committed();
      if (this.lastPosition >= highWaterMark) {
        this.attachToTail();
        continue;
      }
      if (this.streams) {
        const { events, coveredTo } = await this.source.readStreamsCommitted(
          this.streams,
          this.lastPosition,
          highWaterMark,
        );
        if (this.finished) return this.finish();
        this.fill(events);
        this.lastPosition = Math.max(this.lastPosition, coveredTo);
        continue;
      }
      const events = await this.source.readCommitted(this.lastPosition + 1, highWaterMark);
      if (this.finished) return this.finish();
      this.fill(events);
    }
  }

  /**
   * Moves up to `max` items that are ready now (buffered, or on ready live nodes) into `into`,
   * without waiting; returns how many. Lets a server fill a whole frame per wake-up instead of
   * paying one promise per event.
   */
  takeReady(into: Item[], max: number): number {
    let taken = 0;
    while (taken < max && !this.finished && !this.source.closed) {
      if (this.bufferIndex < this.buffer.length) {
        into.push(this.buffer[this.bufferIndex++]!);
        taken++;
        continue;
      }
      const node = this.node;
      const next = node?.next;
      if (!node || !next) break;
      this.node = next;
      this.take(node.value!);
    }
    return taken;
  }

  async return(): Promise<IteratorResult<Item>> {
    this.close();
    return DONE;
  }

  close(): void {
    if (this.finished) return;
    this.finished = true;
    this.stop.abort();
    this.release();
  }

  /** Called by the log when this subscription lags too far behind the live tail. */
  detachFromTail(): void {
    if (!this.node) return;
    this.node = undefined;
    this.source.detach(this);
  }

  private take(item: LiveItem): void {
    if (Array.isArray(item)) {
      this.fill(item);
    } else {
      this.buffer = this.transient && (!this.matches || this.matches(item)) ? [item] : [];
      this.bufferIndex = 0;
    }
  }

  /** Buffers the events after `position` that match, and moves `position` past all of them. */
  private fill(events: readonly Event[]): void {
    this.buffer = [];
    this.bufferIndex = 0;
    const visible = this.source.visibility();
    for (const event of events) {
      if (event.position <= this.lastPosition) continue;
      this.lastPosition = event.position;
      if ((!this.matches || this.matches(event)) && (!visible || visible(event))) this.buffer.push(event);
    }
  }

  private attachToTail(): void {
    this.node = this.source.live.tail();
    this.source.attach(this);
  }

  private finish(): IteratorResult<Item> {
    this.finished = true;
    this.release();
    return DONE;
  }

  private release(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    if (this.node) this.source.detach(this);
    this.node = undefined;
    this.buffer = [];
    this.bufferIndex = 0;
  }
}
