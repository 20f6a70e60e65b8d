/**
 * EventStream (seed 000): one publisher, many subscribers, every subscriber sees every value
 * published after it subscribed, in publish order.
 *
 * A singly linked list. The publisher holds only the tail, which is unready (no `next`);
 * publishing fills the tail's value, links a new tail and wakes whoever waits. Each subscriber
 * holds only its own current node. Nothing holds the head, so nodes that every subscriber has
 * passed are garbage: a stream whose subscribers keep up uses O(1) memory however much it
 * carries. Values are shared by every subscriber and must be treated as immutable.
 */

/** A node of the list; `next` is set exactly when the node is ready (its value published). */
export interface StreamNode<T> {
  readonly value: T | undefined;
  readonly next: StreamNode<T> | undefined;
}

class Node<T> implements StreamNode<T> {
  value: T | undefined = undefined;
  next: Node<T> | undefined = undefined;
  /** Created only when someone waits on this node while it is the tail. */
  waiters: Array<(ready: boolean) => void> | undefined = undefined;
}

export const EMPTY: unique symbol = Symbol('EventStream.EMPTY');
export const DONE: unique symbol = Symbol('EventStream.DONE');

const ITERATOR_DONE: IteratorResult<never> = { done: true, value: undefined };

export class EventStream<T> {
  private last: Node<T> = new Node<T>();
  private isClosed = false;
  private count = 0;

  get closed(): boolean {
    return this.isClosed;
  }

  /** Number of values published so far. */
  get published(): number {
    return this.count;
  }

  publish(value: T): void {
    if (this.isClosed) throw new Error('EventStream: publish after close');
    const node = this.last;
    const tail = new Node<T>();
    node.value = value;
    node.next = tail;
    this.last = tail;
    this.count++;
    const waiters = node.waiters;
    if (waiters !== undefined) {
      node.waiters = undefined;
      for (let i = 0; i < waiters.length; i++) waiters[i]!(true);
    }
  }

  /** The current tail (unready): a cursor that will see every value published from now on. */
  tail(): StreamNode<T> {
    return this.last;
  }

  /**
   * Resolves true once `node` is ready, false if the stream closes or `signal` aborts first.
   * Immediate when the node is already ready or the stream closed.
   */
  wait(node: StreamNode<T>, signal?: AbortSignal): Promise<boolean> {
    if (node.next !== undefined) return Promise.resolve(true);
    if (this.isClosed || signal?.aborted) return Promise.resolve(false);
    const target = node as Node<T>;
    return new Promise<boolean>((resolve) => {
      let settle: (ready: boolean) => void = resolve;
      if (signal) {
        const onAbort = () => {
          const index = target.waiters?.indexOf(settle) ?? -1;
          if (index >= 0) target.waiters!.splice(index, 1);
          resolve(false);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        settle = (ready: boolean) => {
          signal.removeEventListener('abort', onAbort);
          resolve(ready);
        };
      }
      (target.waiters ??= []).push(settle);
    });
  }

  subscribe(options: { signal?: AbortSignal } = {}): StreamSubscription<T> {
    return new StreamSubscription<T>(this, this.last, options.signal);
  }

  /**
   * Ends every subscription: waiters resolve false. Values published before `close` are still
   * delivered to subscribers that have not reached them (a clean end, not a truncation).
   */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const waiters = this.last.waiters;
    this.last.waiters = undefined;
    if (waiters) for (const wake of waiters) wake(false);
  }
}

/**
 * One subscriber's cursor. `pull()` walks ready nodes synchronously and `wait()` awaits only at
 * the tail: the fast path for consumers that handle many values per wake-up. It is also an
 * async iterator for `for await`.
 */
export class StreamSubscription<T> implements AsyncIterableIterator<T> {
  private node: StreamNode<T> | undefined;
  private readonly stop = new AbortController();
  private readonly onAbort = () => this.close();

  constructor(
    private readonly stream: EventStream<T>,
    start: StreamNode<T>,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.node = start;
    if (signal) {
      if (signal.aborted) this.node = undefined;
      else signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /** The next ready value; EMPTY at the tail; DONE once closed (or the stream closed and drained). */
  pull(): T | typeof EMPTY | typeof DONE {
    const node = this.node;
    if (node === undefined) return DONE;
    const next = node.next;
    if (next === undefined) {
      if (this.stream.closed) {
        this.release();
        return DONE;
      }
      return EMPTY;
    }
    this.node = next;
    return node.value as T;
  }

  /** Resolves true when a value is ready, false when this subscription or the stream ended. */
  wait(): Promise<boolean> {
    const node = this.node;
    if (node === undefined) return Promise.resolve(false);
    return this.stream.wait(node, this.stop.signal);
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      const value = this.pull();
      if (value === DONE) return ITERATOR_DONE;
      if (value !== EMPTY) return { done: false, value };
      if (!(await this.wait())) {
        if (this.node !== undefined && this.node.next !== undefined) continue; // raced with a publish
        this.release();
        return ITERATOR_DONE;
      }
    }
  }

  async return(): Promise<IteratorResult<T>> {
    this.close();
    return ITERATOR_DONE;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Ends this subscription and drops its node, so it pins nothing. */
  close(): void {
    if (this.node === undefined && this.stop.signal.aborted) return;
    this.release();
    this.stop.abort();
  }

  private release(): void {
    this.node = undefined;
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}
