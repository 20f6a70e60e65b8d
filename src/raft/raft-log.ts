import { raftInvariantFailed } from './assert.js';
import { limitBytes, type RaftStorage } from './storage.js';
import type { Entry, Snapshot } from './types.js';
import { Unstable } from './unstable.js';

/**
 * The log as the state machine sees it: persisted entries (storage) followed by unstable ones,
 * with the commit and apply marks. `committed` is the high-water mark: nothing beyond it is
 * ever handed to the application.
 */
export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applied: number;

  /** With asynchronous storage writes, only entries already on disk are handed out as committed. */
  asyncWrites = false;

  constructor(readonly storage: RaftStorage) {
    const first = storage.firstIndex();
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.firstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.lastIndex() ?? this.storage.lastIndex();
  }

  /** Term at `index`, or undefined if it was compacted away or is beyond the log. */
  term(index: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return undefined;
    return this.unstable.term(index) ?? this.storage.term(index);
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    if (term === undefined) raftInvariantFailed(`no term for the last index ${this.lastIndex()}`);
    return term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * A leader's append after (index, logTerm): if our log has that entry, take the new entries
   * (cutting any conflicting tail) and return the index of the last one; undefined if not.
   */
  maybeAppend(index: number, logTerm: number, committed: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      if (conflict <= this.committed)
        raftInvariantFailed(`entry ${conflict} conflicts with the committed prefix (committed ${this.committed})`);
      this.append(entries.slice(conflict - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index - 1;
    if (after < this.committed)
      raftInvariantFailed(`appending after ${after} would overwrite committed ${this.committed}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** Index of the first entry that is new or whose term differs from ours; 0 if none. */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * Fast backtracking (etcd's findConflictByTerm): the largest index ≤ `index` whose term is
   * ≤ `term`. Every entry between it and `index` has a higher term, so cannot match the
   * other side's log, whose entry at `index` has `term`.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let at = index;
    for (;;) {
      const ours = this.term(at);
      if (ours === undefined) return { index: at, term: 0 };
      if (ours <= term) return { index: at, term: ours };
      at--;
    }
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) raftInvariantFailed(`commit ${index} is beyond the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Commits `index` if it is of `term`: a leader commits by counting only entries of its own term (§5.4.2). */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    if (index > this.committed || index < this.applied)
      raftInvariantFailed(`applied ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  /** Last index known to be on disk. */
  stableIndex(): number {
    return this.unstable.offset - 1;
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries.slice();
  }

  /** The last index that may be applied: committed, and (with async writes) on this node's disk. */
  private applicable(): number {
    return this.asyncWrites ? Math.min(this.committed, this.stableIndex()) : this.committed;
  }

  hasNextCommittedEntries(): boolean {
    return this.applicable() > this.applied && this.applied + 1 >= this.firstIndex();
  }

  nextCommittedEntries(maxBytes: number): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    return this.slice(this.applied + 1, this.applicable() + 1, maxBytes);
  }

  /** Entries from `lo` to the end, at most `maxBytes`. */
  entriesFrom(lo: number, maxBytes: number): Entry[] {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, maxBytes);
  }

  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo < this.firstIndex()) raftInvariantFailed(`slice from ${lo} is compacted (first ${this.firstIndex()})`);
    if (lo >= hi) return [];
    const offset = this.unstable.offset;
    let entries: Entry[] = [];
    if (lo < offset) {
      entries = this.storage.entries(lo, Math.min(hi, offset), maxBytes);
      if (entries.length < Math.min(hi, offset) - lo) return entries; // byte limit reached in storage
    }
    if (hi > offset) entries = entries.concat(this.unstable.slice(Math.max(lo, offset), hi));
    return limitBytes(entries, maxBytes);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(snapshot: Snapshot): void {
    this.committed = snapshot.index;
    this.unstable.restore(snapshot);
  }
}
