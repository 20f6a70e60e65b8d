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
  /**
   * Last index already handed to the node for writing (with asynchronous storage writes, the
   * entries up to it are in flight): a Ready hands out only the entries after it.
   */
  inProgress: number;

  constructor(public offset: number) {
    this.inProgress = offset - 1;
  }

  /** Entries not yet handed to the node for writing. */
  entriesToWrite(): Entry[] {
    return this.entries.slice(Math.max(0, this.inProgress + 1 - this.offset));
  }

  markInProgress(): void {
    if (this.entries.length > 0) this.inProgress = this.offset + this.entries.length - 1;
  }

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
    this.inProgress = Math.max(this.inProgress, index);
  }

  stableSnapshotTo(index: number): void {
    if (this.snapshot && this.snapshot.index === index) this.snapshot = undefined;
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.index + 1;
    this.entries = [];
    this.inProgress = snapshot.index;
    this.snapshot = snapshot;
  }

  truncateAndAppend(entries: readonly Entry[]): void {
    const after = entries[0]!.index;
    // Entries from `after` on are replaced: whatever of them was in flight must be written again.
    this.inProgress = Math.min(this.inProgress, after - 1);
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
      raftInvariantFailed(
        `unstable slice [${lo}, ${hi}) outside [${this.offset}, ${this.offset + this.entries.length})`,
      );
    }
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
