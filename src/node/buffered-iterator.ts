/**
 * An async iterator over chunks: `next()` hands out buffered items through an already
 * resolved promise and awaits only to fetch the next chunk. `for await` over an async
 * generator costs about 1 µs per item on this machine; this costs a fraction of that.
 */
export class BufferedIterator<T> implements AsyncIterableIterator<T> {
  private buffer: T[] = [];
  private index = 0;
  private finished = false;

  /** `fill` returns the next chunk, or undefined at the end (an empty chunk is skipped). */
  constructor(private readonly fill: () => Promise<T[] | undefined>) {}

  next(): Promise<IteratorResult<T>> {
    if (this.index < this.buffer.length) return Promise.resolve({ done: false, value: this.buffer[this.index++]! });
    return this.refill();
  }

  private async refill(): Promise<IteratorResult<T>> {
    while (!this.finished) {
      const chunk = await this.fill();
      if (chunk === undefined) break;
      if (chunk.length === 0) continue;
      this.buffer = chunk;
      this.index = 1;
      return { done: false, value: chunk[0]! };
    }
    this.finished = true;
    this.buffer = [];
    return { done: true, value: undefined };
  }

  async return(): Promise<IteratorResult<T>> {
    this.finished = true;
    this.buffer = [];
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
