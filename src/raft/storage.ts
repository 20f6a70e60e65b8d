import { raftInvariantFailed } from './assert.js';
import type { ConfigState, Entry, HardState, Snapshot } from './types.js';
import { EMPTY_DATA, NONE } from './types.js';

/**
 * What the state machine reads of the entries already persisted (etcd's Storage). The node
 * writes to its storage as each `ready()` asks; the state machine only reads. Entries below
 * `firstIndex()` have been compacted into `snapshot()`.
 */
export interface RaftStorage {
  initialState(): { hardState: HardState; config: ConfigState };
  /** Entries [lo, hi), at most `maxBytes` of data (always at least one). `lo ≥ firstIndex()`. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /**
   * Term of the entry at `index`; undefined if compacted away or
   * beyond the last. The snapshot's index answers its term.
   */
  term(index: number): number | undefined;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: NONE, commit: 0 };

export function emptySnapshot(config: ConfigState): Snapshot {
  return { index: 0, term: 0, config, data: EMPTY_DATA };
}

/**
 * Storage in memory: the simulator's disk, and the model the real storage must behave like.
 * `entries[0]` is a dummy standing for the snapshot's (index, term), as in etcd.
 */
export class MemoryStorage implements RaftStorage {
  hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot;
  private ents: Entry[];

  constructor(config: ConfigState = { voters: [], learners: [] }) {
    this.snap = emptySnapshot(config);
    this.ents = [{ term: 0, index: 0, kind: 'normal', data: EMPTY_DATA }];
  }

  initialState(): { hardState: HardState; config: ConfigState } {
    return { hardState: this.hardState, config: this.snap.config };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) raftInvariantFailed(`entries from ${lo} requested, compacted up to ${offset}`);
    if (hi > this.lastIndex() + 1)
      raftInvariantFailed(`entries up to ${hi - 1} requested, last is ${this.lastIndex()}`);
    return limitBytes(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  term(index: number): number | undefined {
    const offset = this.ents[0]!.index;
    if (index < offset || index > offset + this.ents.length - 1) return undefined;
    return this.ents[index - offset]!.term;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Appends entries, replacing any it conflicts with (a new leader overwrote them). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all compacted already
    const kept = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const at = kept[0]!.index - this.ents[0]!.index;
    if (at > this.ents.length) raftInvariantFailed(`gap: appending at ${kept[0]!.index}, last is ${this.lastIndex()}`);
    this.ents.length = at;
    for (const entry of kept) this.ents.push(entry);
  }

  /** Replaces everything with a snapshot (a follower far behind, or a new node). */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.index < this.snap.index)
      raftInvariantFailed(`snapshot at ${snapshot.index} is older than ${this.snap.index}`);
    this.snap = snapshot;
    this.ents = [{ term: snapshot.term, index: snapshot.index, kind: 'normal', data: EMPTY_DATA }];
  }

  /**
   * Drops entries up to `index`, keeping a snapshot of the state machine at that point (its
   * `data`, made by the application from its applied state).
   */
  compact(index: number, config: ConfigState, data: Uint8Array): void {
    const offset = this.ents[0]!.index;
    if (index <= offset) return;
    if (index > this.lastIndex()) raftInvariantFailed(`compact to ${index} beyond last ${this.lastIndex()}`);
    const term = this.ents[index - offset]!.term;
    this.snap = { index, term, config, data };
    this.ents = this.ents.slice(index - offset);
    this.ents[0] = { term, index, kind: 'normal', data: EMPTY_DATA };
  }
}

/** A prefix of `entries` whose data fits `maxBytes`, never empty if `entries` is not. */
export function limitBytes(entries: Entry[], maxBytes: number): Entry[] {
  let size = 0;
  for (let i = 0; i < entries.length; i++) {
    size += entries[i]!.data.byteLength + ENTRY_OVERHEAD_BYTES;
    if (size > maxBytes && i > 0) return entries.slice(0, i);
  }
  return entries;
}

/** Counted per entry besides its data, so many empty entries still fill a message. */
export const ENTRY_OVERHEAD_BYTES = 24;
