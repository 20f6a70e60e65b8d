import type { TimerHandle, Timers } from '../../src/node/index.js';

/** A pending virtual timer; `owner` groups the timers of one node's process, cancelled together at its crash. */
interface VirtualTimer extends TimerHandle {
  at: number;
  seq: number;
  every: number | undefined;
  callback: () => void;
  owner: number;
  cancelled: boolean;
}

/** Virtual milliseconds before the first one (a fixed epoch keeps event timestamps the same in every run). */
export const VIRTUAL_EPOCH_MS = 1_767_225_600_000;

/**
 * Virtual time for the node simulator: a clock that moves only when the next timer fires.
 * Timers fire in (time, creation order), so a run is a pure function of its seed. The driver
 * fires the earliest timer, then lets every promise settle (one macrotask turn drains the
 * microtask queue: nothing in a simulated node does real I/O), and repeats.
 */
export class VirtualTime {
  now = 0;
  private seq = 0;
  /** A binary heap ordered by (at, seq). */
  private readonly heap: VirtualTimer[] = [];

  /** The node's Timers for one owner (a node's process, or the simulator's own = 0). */
  timers(owner: number): Timers {
    return {
      setTimeout: (callback, ms) => this.add(callback, ms, undefined, owner),
      clearTimeout: (handle) => this.cancel(handle),
      setInterval: (callback, ms) => this.add(callback, ms, Math.max(1, ms), owner),
      clearInterval: (handle) => this.cancel(handle),
    };
  }

  /** Runs `callback` after `ms` virtual milliseconds (the simulator's own timers). */
  after(ms: number, callback: () => void, owner = 0): TimerHandle {
    return this.add(callback, ms, undefined, owner);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }

  /** Cancels every timer of `owner` (its process died). */
  cancelOwner(owner: number): void {
    for (const timer of this.heap) if (timer.owner === owner) timer.cancelled = true;
  }

  /** Fires the earliest live timer, advancing the clock to it; false when none is left before `until`. */
  fireNext(until: number): boolean {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.at > until) return false;
      this.pop();
      if (top.cancelled) continue;
      this.now = Math.max(this.now, top.at);
      if (top.every !== undefined) {
        top.at = this.now + top.every;
        top.seq = this.seq++;
        this.push(top);
      }
      top.callback();
      return true;
    }
  }

  /**
   * Fires the earliest live timer and every other one already due at that same millisecond
   * (not those their callbacks add: as in Node, a timer set now runs after the promises it
   * started). False when none is left.
   */
  fireDue(): boolean {
    if (!this.fireNext(Number.POSITIVE_INFINITY)) return false;
    const limit = this.seq;
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.at > this.now || top.seq >= limit) return true;
      this.fireNext(this.now);
    }
  }

  private add(callback: () => void, ms: number, every: number | undefined, owner: number): VirtualTimer {
    const timer: VirtualTimer = {
      at: this.now + Math.max(0, Math.floor(ms)),
      seq: this.seq++,
      every,
      callback,
      owner,
      cancelled: false,
      ref: () => timer,
      unref: () => timer,
    };
    this.push(timer);
    return timer;
  }

  private cancel(handle: unknown): void {
    if (handle && typeof handle === 'object' && 'cancelled' in handle) (handle as VirtualTimer).cancelled = true;
  }

  private before(a: VirtualTimer, b: VirtualTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(timer: VirtualTimer): void {
    const heap = this.heap;
    heap.push(timer);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && this.before(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && this.before(heap[r]!, heap[m]!)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  }
}

/** Lets every promise chain settle: one macrotask turn runs after the whole microtask queue. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
