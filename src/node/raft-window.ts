import {
  decodeConfigEntry,
  EMPTY_DATA,
  type ConfigState,
  type Entry,
  type HardState,
  type RaftStorage,
  type Snapshot,
} from '../raft/index.js';
import { limitBytes } from '../raft/storage.js';
import { invariantFailed } from '../engine/index.js';

/**
 * The persisted Raft entries the state machine can still see: a window over the tail of the
 * segment files, kept in memory (raft reads its storage synchronously, as etcd's does). The
 * segments remain the one log; the window is only what Raft may still need to send or
 * compare. It starts after `snapshot.index` and is compacted as followers catch up.
 *
 * Besides each entry it keeps the log position before it (an entry's events start there), so
 * a truncation knows which events it removes.
 */
export class RaftWindow implements RaftStorage {
  hardState: HardState;
  private snap: Snapshot;
  private window: Entry[] = [];
  /** positionBefore[i] = position the first event of entry snap.index + 1 + i gets. */
  private positionBefore: number[] = [];
  /** Position after the snapshot's entry (= after the window when it is empty). */
  private snapshotNextPosition: number;
  /** Membership changes inside the window, for the config as of a compaction point. */
  private configs: Array<{ index: number; config: ConfigState }> = [];
  private bytes = 0;

  constructor(
    hardState: HardState,
    snapshot: { index: number; term: number; config: ConfigState; nextPosition: number },
  ) {
    this.hardState = hardState;
    this.snap = { index: snapshot.index, term: snapshot.term, config: snapshot.config, data: EMPTY_DATA };
    this.snapshotNextPosition = snapshot.nextPosition;
  }

  /**
   * The membership Raft starts with: the one as of the commit index, which Raft takes as
   * applied. A config entry after it is not in force yet: it takes effect when it is applied,
   * and a new leader may still replace it (a removed node that restarted with the entry
   * removing it uncommitted in its log kept acting on it after it was replaced).
   */
  initialState(): { hardState: HardState; config: ConfigState } {
    const applied = Math.min(this.hardState.commit, this.lastIndex());
    let config = this.snap.config;
    for (const c of this.configs) if (c.index <= applied) config = c.config;
    return { hardState: this.hardState, config };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.snap.index || hi > this.lastIndex() + 1)
      invariantFailed(`raft window: entries [${lo}, ${hi}) outside (${this.snap.index}, ${this.lastIndex()}]`);
    return limitBytes(this.window.slice(lo - this.snap.index - 1, hi - this.snap.index - 1), maxBytes);
  }

  term(index: number): number | undefined {
    if (index === this.snap.index) return this.snap.term;
    if (index < this.snap.index || index > this.lastIndex()) return undefined;
    return this.window[index - this.snap.index - 1]!.term;
  }

  firstIndex(): number {
    return this.snap.index + 1;
  }

  lastIndex(): number {
    return this.snap.index + this.window.length;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Bytes of entry data held in memory. */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** Position the first event of entry `index` gets (for an entry without events: the next event's). */
  positionBeforeEntry(index: number): number {
    if (index === this.lastIndex() + 1) return this.nextPosition();
    if (index <= this.snap.index || index > this.lastIndex())
      invariantFailed(`raft window: no position for entry ${index} outside (${this.snap.index}, ${this.lastIndex()}]`);
    return this.positionBefore[index - this.snap.index - 1]!;
  }

  /** Position the next appended event gets. */
  nextPosition(): number {
    return this.positionAfter(this.lastIndex());
  }

  /** Position after every event of entries up to `index`. */
  positionAfter(index: number): number {
    if (index === this.snap.index) return this.snapshotNextPosition;
    if (index === this.lastIndex()) return this.tailNextPosition;
    return this.positionBeforeEntry(index + 1);
  }

  private tailNextPosition = 0;

  /** Entries the node wrote (contiguous with the window), with the position after each one's events. */
  append(entries: readonly Entry[], positionsAfter: readonly number[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    if (first !== this.lastIndex() + 1)
      invariantFailed(`raft window: appending entry ${first} after ${this.lastIndex()}`);
    let before = this.nextPosition();
    entries.forEach((entry, i) => {
      this.window.push(entry);
      this.positionBefore.push(before);
      this.bytes += entry.data.byteLength;
      if (entry.kind === 'config')
        this.configs.push({ index: entry.index, config: decodeConfigEntry(entry.data).config });
      before = positionsAfter[i]!;
    });
    this.tailNextPosition = before;
  }

  /** Drops entries from `index` on (a new leader's entries replace them). */
  truncateFrom(index: number): void {
    if (index > this.lastIndex()) return;
    if (index <= this.snap.index)
      invariantFailed(`raft window: truncating from ${index}, at or below the snapshot ${this.snap.index}`);
    const keep = index - this.snap.index - 1;
    this.tailNextPosition = this.positionBefore[keep]!;
    for (const entry of this.window.slice(keep)) this.bytes -= entry.data.byteLength;
    this.window.length = keep;
    this.positionBefore.length = keep;
    this.configs = this.configs.filter((c) => c.index < index);
  }

  /**
   * Starts over at a leader's snapshot: every entry up to `snapshot.index` is on disk (the
   * node just installed them), none is in memory, and the next event takes `nextPosition`.
   */
  restore(snapshot: Snapshot, nextPosition: number): void {
    this.window = [];
    this.positionBefore = [];
    this.configs = [];
    this.bytes = 0;
    this.snap = { index: snapshot.index, term: snapshot.term, config: snapshot.config, data: EMPTY_DATA };
    this.snapshotNextPosition = nextPosition;
    this.tailNextPosition = nextPosition;
  }

  /** Forgets entries up to `index` (applied, and no follower needs them from memory any more). */
  compact(index: number): void {
    if (index <= this.snap.index) return;
    if (index > this.lastIndex()) invariantFailed(`raft window: compacting to ${index} beyond ${this.lastIndex()}`);
    const drop = index - this.snap.index;
    const term = this.term(index)!;
    const nextPosition = this.positionAfter(index);
    let config = this.snap.config;
    for (const c of this.configs) if (c.index <= index) config = c.config;
    for (const entry of this.window.slice(0, drop)) this.bytes -= entry.data.byteLength;
    this.window = this.window.slice(drop);
    this.positionBefore = this.positionBefore.slice(drop);
    this.configs = this.configs.filter((c) => c.index > index);
    this.snap = { index, term, config, data: EMPTY_DATA };
    this.snapshotNextPosition = nextPosition;
  }
}
