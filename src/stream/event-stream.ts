/**
 * EventStream: one publisher, many subscribers, every subscriber sees every value
 * published after it subscribed, in publish order.
 *
 * A singly linked list. The publisher holds only the tail, which is unready (no `next`);
 * publishing fills the tail's value, links a new tail and wakes whoever waits. Each subscriber
 * holds only its own current node. Nothing holds the head, so nodes that every subscriber has
 * passed are garbage: a stream whose subscribers keep up uses O(1) memory however much it
 * carries. Values are shared by every subscriber and must be treated as immutable.
 *
 * Only the tail can be unready, so everything about waking lives on the stream (for the current
 * tail) rather than on each node: a node is two fields, and publishing with nobody waiting is a
 * field check, with no promise or closure created.
 */

/** A node of the list; `next` is set exactly when the node is ready (its value published). */
export interface StreamNode<T> {
  readonly value: T | undefined;
  readonly next: StreamNode<T> | undefined;
}

class Node<T> implements StreamNode<T> {
  value: T | undefined;
  next: Node<T> | undefined;
  constructor() {
    // Assigned here, in this order, so every node has the same hidden class.
    this.value = undefined;
    this.next = undefined;
  }
}

/** Returned by `pull()` at the tail: nothing ready yet, `wait()` for more. */
export const EMPTY: unique symbol = Symbol('EventStream.EMPTY');
/** Returned by `pull()` once the subscription has ended and nothing is left to read. */
export const DONE: unique symbol = Symbol('EventStream.DONE');

// Settled promises can be shared by every caller: nothing can change them.
const TRUE = Promise.resolve(true);
const FALSE = Promise.resolve(false);
const DONE_RESULT: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });
const DONE_PROMISE: Promise<IteratorResult<never>> = Promise.resolve(DONE_RESULT);

/**
 * A wait on the tail that can end on its own: a subscription's (one object reused for all its
 * waits) or a single `EventStream.wait()` call with a signal. It is an EventListener object, so
 * listening to a signal costs no closure.
 */
class Waiter {
  resolve: ((ready: boolean) => void) | undefined;
  promise: Promise<boolean> | undefined;
  readonly channel: Channel<unknown>;
  readonly signal: AbortSignal | undefined;
  private readonly capture: (resolve: (ready: boolean) => void) => void;

  constructor(channel: Channel<unknown>, signal: AbortSignal | undefined) {
    this.resolve = undefined;
    this.promise = undefined;
    this.channel = channel;
    this.signal = signal;
    this.capture = (resolve) => {
      this.resolve = resolve;
    };
  }

  /** The pending promise; a second wait before the first settles shares it (parked once). */
  park(): Promise<boolean> {
    if (this.promise !== undefined) return this.promise;
    const promise = new Promise<boolean>(this.capture);
    this.promise = promise;
    this.channel.park(this);
    if (this.signal !== undefined) this.signal.addEventListener('abort', this);
    return promise;
  }

  settle(ready: boolean): void {
    const resolve = this.resolve;
    if (resolve === undefined) return;
    this.resolve = undefined;
    this.promise = undefined;
    // Removed on every outcome: a long-lived signal reused for many waits must not collect listeners.
    if (this.signal !== undefined) this.signal.removeEventListener('abort', this);
    resolve(ready);
  }

  handleEvent(): void {
    this.channel.cancel(this);
  }
}

/**
 * The stream's state. Kept apart from the public `EventStream` so subscriptions can park and
 * cancel waits without that becoming public API.
 */
class Channel<T> {
  last: Node<T>;
  closed: boolean;
  count: number;
  /** True when `publish` has someone to wake; the only thing publish checks. */
  waiting: boolean;
  /** Shared by every plain `wait()` on the current tail; created by the first such wait. */
  ready: Promise<boolean> | undefined;
  resolveReady: ((ready: boolean) => void) | undefined;
  /** Waits that can end early; entries whose wait already ended stay until the next wake-up or compaction. */
  waiters: Waiter[];
  ended: number;
  private readonly capture: (resolve: (ready: boolean) => void) => void;

  constructor() {
    this.last = new Node<T>();
    this.closed = false;
    this.count = 0;
    this.waiting = false;
    this.ready = undefined;
    this.resolveReady = undefined;
    this.waiters = [];
    this.ended = 0;
    this.capture = (resolve) => {
      this.resolveReady = resolve;
    };
  }

  publish(value: T): void {
    if (this.closed)
      throw new Error(`EventStream.publish: the stream is closed (${this.count} values were published before close)`);
    const node = this.last;
    const tail = new Node<T>();
    node.value = value;
    node.next = tail;
    this.last = tail;
    this.count++;
    if (this.waiting) this.wake(true);
  }

  wait(node: StreamNode<T>, signal: AbortSignal | undefined): Promise<boolean> {
    if (node.next !== undefined) return TRUE;
    if (this.closed || signal?.aborted) return FALSE;
    if (node !== this.last)
      return Promise.reject(new Error('EventStream.wait: the node does not belong to this stream'));
    if (signal !== undefined) return new Waiter(this as Channel<unknown>, signal).park();
    if (this.ready === undefined) {
      this.ready = new Promise<boolean>(this.capture);
      this.waiting = true;
    }
    return this.ready;
  }

  park(waiter: Waiter): void {
    this.waiters.push(waiter);
    this.waiting = true;
  }

  /** Ends one parked wait with false (its subscription closed or its signal aborted). */
  cancel(waiter: Waiter): void {
    if (waiter.resolve === undefined) return;
    waiter.settle(false);
    // On a quiet stream, nothing else would drop ended waits: subscribers that come and go, or
    // waits with timeouts, would pile up until the next publish. Compacting when half are ended
    // keeps the array proportional to the live waits at O(1) amortized cost.
    if (++this.ended > 32 && this.ended * 2 > this.waiters.length) {
      this.waiters = this.waiters.filter((w) => w.resolve !== undefined);
      this.ended = 0;
    }
  }

  /** Out of line so `publish` stays small enough to inline. */
  wake(ready: boolean): void {
    this.waiting = false;
    const resolve = this.resolveReady;
    if (resolve !== undefined) {
      this.ready = undefined;
      this.resolveReady = undefined;
      resolve(ready);
    }
    const waiters = this.waiters;
    if (waiters.length > 0) {
      // settle() runs no user code synchronously (resolving with a boolean, removing a
      // listener), so nothing can park on this array while it is walked.
      for (let i = 0; i < waiters.length; i++) waiters[i]!.settle(ready);
      waiters.length = 0;
      this.ended = 0;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wake(false);
  }
}

export class EventStream<T> {
  private readonly channel: Channel<T>;

  constructor() {
    this.channel = new Channel<T>();
  }

  get closed(): boolean {
    return this.channel.closed;
  }

  /** Number of values published so far. */
  get published(): number {
    return this.channel.count;
  }

  /** Appends a value; every current subscriber will see it. Throws if the stream is closed. */
  publish(value: T): void {
    this.channel.publish(value);
  }

  /** The current tail (unready): a cursor that will see every value published from now on. */
  tail(): StreamNode<T> {
    return this.channel.last;
  }

  /**
   * Resolves true once `node` is ready, false if the stream closes or `signal` aborts first;
   * at once when the node is already ready or the stream closed. Waits without a signal share
   * one promise per tail, created by the first of them. Rejects when `node` is an unready node
   * of another stream, which this stream could never wake.
   */
  wait(node: StreamNode<T>, signal?: AbortSignal): Promise<boolean> {
    return this.channel.wait(node, signal);
  }

  /** A subscription starting at the current tail (on a closed stream it is done at once). */
  subscribe(options?: { signal?: AbortSignal }): StreamSubscription<T> {
    return new StreamSubscription<T>(this, options);
  }

  /**
   * Ends every subscription: pending waits resolve false. Subscribers still read the values
   * published before `close` and then finish: close marks the end of the sequence, it does not
   * truncate it, so every subscriber ends having seen the same complete sequence. A subscriber
   * that wants to stop at once closes its own subscription (or aborts its signal). Idempotent.
   */
  close(): void {
    this.channel.close();
  }
}

/**
 * One subscriber's cursor. `pull()` walks ready nodes synchronously and `wait()` awaits only at
 * the tail: the fast path for consumers that handle many values per wake-up. It is also an
 * async iterator for `for await`.
 */
export class StreamSubscription<T> implements AsyncIterableIterator<T> {
  /** undefined once ended, so an ended subscription pins no node. */
  private node: Node<T> | undefined;
  private readonly channel: Channel<T>;
  private readonly waiter: Waiter;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort: (() => void) | undefined;

  /** Same as `stream.subscribe(options)`. */
  constructor(stream: EventStream<T>, options?: { signal?: AbortSignal }) {
    // Element access reaches the private field: the channel is this module's, not public API.
    // biome-ignore lint/complexity/useLiteralKeys: only element access may read a private field
    const channel = stream['channel'];
    const signal = options?.signal;
    this.channel = channel;
    this.node = channel.last;
    // The subscription's own signal is listened to once for its lifetime, not per wait: its
    // waits park this waiter, which has no signal of its own.
    this.waiter = new Waiter(channel as Channel<unknown>, undefined);
    this.signal = signal;
    this.onAbort = undefined;
    if (signal !== undefined) {
      if (signal.aborted) this.node = undefined;
      else {
        this.onAbort = () => this.close();
        signal.addEventListener('abort', this.onAbort);
      }
    }
  }

  /**
   * The next ready value; EMPTY at the tail; DONE once ended (closed, aborted, or the stream
   * closed and drained). In a hot loop compare against module-local copies of EMPTY and DONE
   * (`const EMPTY_: typeof EMPTY = EMPTY`): an imported binding is live and checked on every
   * read, which halved N=1 throughput on Node 20.
   */
  pull(): T | typeof EMPTY | typeof DONE {
    const node = this.node;
    if (node === undefined) return DONE;
    const next = node.next;
    if (next === undefined) {
      if (this.channel.closed) {
        this.release();
        return DONE;
      }
      return EMPTY;
    }
    this.node = next;
    return node.value as T;
  }

  /**
   * Resolves true when a value is ready (at once if one already is), false when this
   * subscription, its signal or the stream ended with nothing left to read.
   */
  wait(): Promise<boolean> {
    const node = this.node;
    if (node === undefined) return FALSE;
    if (node.next !== undefined) return TRUE;
    if (this.channel.closed) return FALSE;
    return this.waiter.park();
  }

  next(): Promise<IteratorResult<T>> {
    const value = this.pull();
    if (value === EMPTY) return this.nextAfterWait();
    if (value === DONE) return DONE_PROMISE;
    return Promise.resolve({ done: false, value });
  }

  private async nextAfterWait(): Promise<IteratorResult<T>> {
    for (;;) {
      // pull() decides: a false wait always leaves this subscription ended or the stream closed,
      // so the next pull() returns DONE or a value published before close.
      await this.wait();
      const value = this.pull();
      if (value === DONE) return DONE_RESULT;
      if (value !== EMPTY) return { done: false, value };
    }
  }

  /** Ends this subscription (what `break` out of `for await` calls). */
  return(): Promise<IteratorResult<T>> {
    this.close();
    return DONE_PROMISE;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Ends this subscription: a pending wait resolves false and its node is dropped, so it pins nothing. Idempotent. */
  close(): void {
    if (this.node === undefined) return;
    this.release();
    this.channel.cancel(this.waiter);
  }

  private release(): void {
    this.node = undefined;
    if (this.onAbort !== undefined) this.signal!.removeEventListener('abort', this.onAbort);
  }
}
