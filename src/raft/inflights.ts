/**
 * Flow control for one follower: the last index of each append message in flight, oldest
 * first, at most `capacity` of them (etcd's Inflights). The leader stops sending when it is
 * full and frees entries as the follower acknowledges.
 */
export class Inflights {
  private readonly buffer: Float64Array;
  private start = 0;
  count = 0;

  constructor(readonly capacity: number) {
    this.buffer = new Float64Array(capacity);
  }

  add(lastIndex: number): void {
    if (this.full()) throw new Error(`inflights full (${this.capacity})`);
    this.buffer[(this.start + this.count) % this.capacity] = lastIndex;
    this.count++;
  }

  /** Frees every message whose last index is ≤ `index`. */
  freeLE(index: number): void {
    while (this.count > 0 && this.buffer[this.start]! <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
  }

  freeFirstOne(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}
