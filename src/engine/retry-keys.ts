import type { IdEntry } from './id-window.js';

/**
 * Retry keys: the id a client library made up for the first event of each append it sent
 * (docs/protocol.md), kept so that the same request, re-sent after a lost connection, is
 * answered instead of written twice.
 *
 * Unlike writer ids they are looked up only for requests the client marks as re-sent, so
 * remembering them must be nearly free on the write path: a ring of parallel arrays (no hash
 * table, no object per key), searched newest first on the rare re-send. Bounded by count and
 * by age in event time, like the id window. Checkpoints carry them (engine/checkpoint.ts): a
 * reopen replays only the events after its checkpoint, and a re-send that arrives after a
 * restart must still find the keys of the events before it. (The keys of replayed events land
 * in the id window, where a re-send looks too.)
 */
export interface RetryKeyLimits {
  maxCount: number;
  maxAgeMs: number;
}

export const DEFAULT_RETRY_KEYS: RetryKeyLimits = { maxCount: 500_000, maxAgeMs: 2 * 60 * 1000 };

const INITIAL_CAPACITY = 16 * 1024;

export class RetryKeys {
  private ids: string[] = new Array<string>(INITIAL_CAPACITY);
  private streams: string[] = new Array<string>(INITIAL_CAPACITY);
  private indexes = new Float64Array(INITIAL_CAPACITY);
  private positions = new Float64Array(INITIAL_CAPACITY);
  private timestamps = new Float64Array(INITIAL_CAPACITY);
  /** Ring: `count` keys from slot `head`, oldest first. */
  private head = 0;
  private count = 0;

  constructor(readonly limits: RetryKeyLimits = DEFAULT_RETRY_KEYS) {}

  get size(): number {
    return this.count;
  }

  add(id: string, stream: string, index: number, position: number, timestamp: number): void {
    const oldestAllowed = timestamp - this.limits.maxAgeMs;
    while (this.count > 0 && (this.count >= this.limits.maxCount || this.timestamps[this.head]! < oldestAllowed))
      this.dropOldest();
    if (this.count === this.ids.length) this.grow();
    const slot = (this.head + this.count) % this.ids.length;
    this.ids[slot] = id;
    this.streams[slot] = stream;
    this.indexes[slot] = index;
    this.positions[slot] = position;
    this.timestamps[slot] = timestamp;
    this.count++;
  }

  /** The key's entry, searching newest first (a re-sent request is usually recent). */
  find(id: string): IdEntry | undefined {
    const capacity = this.ids.length;
    for (let k = this.count - 1; k >= 0; k--) {
      const slot = (this.head + k) % capacity;
      if (this.ids[slot] === id) {
        return {
          id,
          stream: this.streams[slot]!,
          index: this.indexes[slot]!,
          position: this.positions[slot]!,
          timestamp: this.timestamps[slot]!,
        };
      }
    }
    return undefined;
  }

  /** The keys of events at or before `upTo`, oldest first. */
  entriesUpTo(upTo: number): IdEntry[] {
    const entries: IdEntry[] = [];
    this.forEachUpTo(upTo, (id, stream, index, position, timestamp) =>
      entries.push({ id, stream, index, position, timestamp }),
    );
    return entries;
  }

  /**
   * Visits the keys of events at or before `upTo`, oldest first, without an object per key (a
   * checkpoint writes up to `maxCount` of them: 500k objects cost ~0.4 s).
   */
  forEachUpTo(
    upTo: number,
    visit: (id: string, stream: string, index: number, position: number, timestamp: number) => void,
  ): void {
    const capacity = this.ids.length;
    for (let k = 0; k < this.count; k++) {
      const slot = (this.head + k) % capacity;
      if (this.positions[slot]! > upTo) break; // positions grow along the ring
      visit(this.ids[slot]!, this.streams[slot]!, this.indexes[slot]!, this.positions[slot]!, this.timestamps[slot]!);
    }
  }

  /** Forgets keys of events beyond `position` (the log was truncated). */
  truncateAfter(position: number): void {
    while (this.count > 0 && this.positions[(this.head + this.count - 1) % this.ids.length]! > position) {
      const slot = (this.head + this.count - 1) % this.ids.length;
      this.ids[slot] = undefined as unknown as string;
      this.streams[slot] = undefined as unknown as string;
      this.count--;
    }
  }

  private dropOldest(): void {
    this.ids[this.head] = undefined as unknown as string; // let the string go
    this.streams[this.head] = undefined as unknown as string;
    this.head = (this.head + 1) % this.ids.length;
    this.count--;
  }

  private grow(): void {
    const capacity = Math.min(this.ids.length * 2, Math.max(this.limits.maxCount, INITIAL_CAPACITY));
    const ids = new Array<string>(capacity);
    const streams = new Array<string>(capacity);
    const indexes = new Float64Array(capacity);
    const positions = new Float64Array(capacity);
    const timestamps = new Float64Array(capacity);
    for (let k = 0; k < this.count; k++) {
      const slot = (this.head + k) % this.ids.length;
      ids[k] = this.ids[slot]!;
      streams[k] = this.streams[slot]!;
      indexes[k] = this.indexes[slot]!;
      positions[k] = this.positions[slot]!;
      timestamps[k] = this.timestamps[slot]!;
    }
    this.ids = ids;
    this.streams = streams;
    this.indexes = indexes;
    this.positions = positions;
    this.timestamps = timestamps;
    this.head = 0;
  }
}
