import { MemoryStorage, type ConfigState, type Entry, type HardState, type Snapshot } from '../src/raft/index.js';
import { chainHash } from './entry-codec.js';

/**
 * One node's disk in the simulator: what survives a crash. Everything a Ready asks to persist
 * lands here only if the node did not crash while writing it; a crash mid-write keeps a prefix
 * of the entries (a torn last record is cut at recovery, which leaves exactly such a prefix).
 * Beside each entry it keeps the log-matching hash chain over the whole prefix.
 */
export class SimDisk {
  readonly storage: MemoryStorage;
  /** chain[index] = hash over entries 1..index of this log; the snapshot's index holds the leader's. */
  private readonly chain = new Map<number, number>();
  /** Highest index the disk ever compacted to: snapshots must never go backwards. */
  compactedTo = 0;

  constructor(config: ConfigState) {
    this.storage = new MemoryStorage(config);
    this.chain.set(0, 0);
  }

  chainAt(index: number): number | undefined {
    return this.chain.get(index);
  }

  setHardState(state: HardState): void {
    this.storage.hardState = state;
  }

  /** Appends (replacing a conflicting tail); returns the first index that replaced existing entries, if any. */
  append(entries: readonly Entry[]): { truncatedFrom: number | undefined } {
    if (entries.length === 0) return { truncatedFrom: undefined };
    const first = entries[0]!.index;
    const last = this.storage.lastIndex();
    const truncatedFrom = first <= last ? first : undefined;
    this.storage.append(entries);
    for (let i = last; i >= first; i--) this.chain.delete(i);
    for (const entry of entries) {
      const previous = this.chain.get(entry.index - 1);
      if (previous === undefined) throw new Error(`sim disk: no chain hash at ${entry.index - 1} to extend`);
      this.chain.set(entry.index, chainHash(previous, entry.term, entry.index, entry.data));
    }
    return { truncatedFrom };
  }

  applySnapshot(snapshot: Snapshot, chain: number): void {
    const last = this.storage.lastIndex();
    this.storage.applySnapshot(snapshot);
    for (let i = last; i >= 0; i--) if (i !== snapshot.index) this.chain.delete(i);
    this.chain.set(snapshot.index, chain);
    this.compactedTo = Math.max(this.compactedTo, snapshot.index);
  }

  compact(index: number, config: ConfigState, data: Uint8Array): void {
    this.storage.compact(index, config, data);
    this.compactedTo = Math.max(this.compactedTo, index);
  }
}
