/**
 * The ids of recent events, for idempotent appends with `expected: 'any'` (like JetStream's
 * Nats-Msg-Id duplicate window): bounded by count and by age. Age is measured in event
 * timestamps, never by reading a clock, so replay rebuilds exactly the same window.
 */
export interface IdEntry {
  readonly id: string;
  readonly stream: string;
  readonly index: number;
  readonly position: number;
  readonly timestamp: number;
}

export interface IdWindowLimits {
  /** Ids remembered at most. */
  maxCount: number;
  /** Ids older than this (in event time, relative to the newest) are forgotten. */
  maxAgeMs: number;
}

export const DEFAULT_ID_WINDOW: IdWindowLimits = { maxCount: 100_000, maxAgeMs: 2 * 60 * 1000 };

export class IdWindow {
  private readonly byId = new Map<string, IdEntry>();
  /** Oldest first; `head` skips evicted entries without shifting the array each time. */
  private order: IdEntry[] = [];
  private head = 0;

  constructor(readonly limits: IdWindowLimits) {}

  get size(): number {
    return this.byId.size;
  }

  get(id: string): IdEntry | undefined {
    return this.byId.get(id);
  }

  add(entry: IdEntry): void {
    this.byId.set(entry.id, entry);
    this.order.push(entry);
    const oldestAllowed = entry.timestamp - this.limits.maxAgeMs;
    while (this.head < this.order.length) {
      const oldest = this.order[this.head]!;
      if (this.byId.size <= this.limits.maxCount && oldest.timestamp >= oldestAllowed) break;
      if (this.byId.get(oldest.id) === oldest) this.byId.delete(oldest.id);
      this.head++;
    }
    if (this.head > 4096 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }

  /** Forgets entries beyond `position` (the log was truncated). */
  truncateAfter(position: number): void {
    const kept = this.entries().filter((entry) => entry.position <= position);
    this.byId.clear();
    this.order = [];
    this.head = 0;
    for (const entry of kept) {
      this.byId.set(entry.id, entry);
      this.order.push(entry);
    }
  }

  /** Live entries, oldest first. */
  entries(): IdEntry[] {
    const live: IdEntry[] = [];
    for (let i = this.head; i < this.order.length; i++) {
      const entry = this.order[i]!;
      if (this.byId.get(entry.id) === entry) live.push(entry);
    }
    return live;
  }
}
