import { MemoryStorage, type ConfigState, type Entry, type HardState, type Snapshot } from '../src/raft/index.js';
import { chainHash } from './entry-codec.js';

/**
 * One node's disk in the simulator: what survives a crash. Everything a Ready asks to persist
 * lands here only if the node did not crash while writing it; a crash mid-write keeps a prefix
 * of the entries (a torn last record is cut at recovery, which leaves exactly such a prefix).
 * Beside each entry it keeps the log-matching hash chain over the whole prefix.
 */
export class SimDisk {
  /** Replaced (not mutated) when the disk loses entries it had made durable (`loseTail`). */
  storage: MemoryStorage;
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

  /**
   * The disk loses every entry after `keep`, although they were durable (damage a node finds
   * at open and cuts away). With `mark`, the node knows it, as a real one does: its hard state
   * says it is recovering.
   */
  loseTail(keep: number, mark: boolean): void {
    const old = this.storage;
    const fresh = new MemoryStorage(old.snapshot().config);
    const snapshot = old.snapshot();
    if (snapshot.index > 0) fresh.applySnapshot(snapshot);
    if (keep >= old.firstIndex()) fresh.append(old.entries(old.firstIndex(), keep + 1, Number.MAX_SAFE_INTEGER));
    fresh.hardState = mark ? { ...old.hardState, recovering: `lost entries after ${keep}` } : old.hardState;
    for (let i = old.lastIndex(); i > keep; i--) this.chain.delete(i);
    this.storage = fresh;
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
