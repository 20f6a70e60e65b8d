import { raftInvariantFailed } from './assert.js';
import type { Entry, Snapshot } from './types.js';

/**
 * Entries (and possibly a snapshot) the state machine has accepted but the node has not yet
 * persisted. `offset` is the index of `entries[0]`. They move to storage when the node reports,
 * through `advance()`, that it wrote them.
 */
export class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];

  constructor(public offset: number) {}

  firstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.index + 1 : undefined;
  }

  lastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.index;
  }

  term(index: number): number | undefined {
    if (index < this.offset) {
      return this.snapshot && this.snapshot.index === index ? this.snapshot.term : undefined;
    }
    const last = this.lastIndex();
    if (last === undefined || index > last) return undefined;
    return this.entries[index - this.offset]!.term;
  }

  /** The node persisted entries up to (index, term): drop them here, unless they were replaced since. */
  stableTo(index: number, term: number): void {
    if (this.term(index) !== term || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.snapshot && this.snapshot.index === index) this.snapshot = undefined;
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  truncateAndAppend(entries: readonly Entry[]): void {
    const after = entries[0]!.index;
    if (after === this.offset + this.entries.length) {
      for (const entry of entries) this.entries.push(entry);
    } else if (after <= this.offset) {
      // Replaces everything unstable; storage drops its conflicting tail when these are written.
      this.offset = after;
      this.entries = entries.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(entries);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    if (lo < this.offset || hi > this.offset + this.entries.length) {
      raftInvariantFailed(`unstable slice [${lo}, ${hi}) outside [${this.offset}, ${this.offset + this.entries.length})`);
    }
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
