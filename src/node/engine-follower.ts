import {
  applyEvent,
  forgetPositionsBelow,
  replaceState,
  settleState,
  truncateState,
  type EngineState,
} from '../engine/state.js';
import { invariantFailed } from '../engine/assert.js';
import { firstRecordOffset, nextRecordOffset, readBatchHeader } from '../storage/record.js';
import type { Entry } from '../raft/index.js';
import { decodeForReplay } from './event-codec.js';
import type { Publisher } from './publisher.js';
import type { ReplicatorHooks } from './replication-ports.js';

/** The term and first position of an entry not yet committed. */
interface UncommittedEntry {
  term: number;
  position: number;
}

/** Who hears what the engine follower sees besides the engine itself. */
export interface FollowerObservers extends Pick<ReplicatorHooks, 'roleChanged' | 'snapshot'> {
  /** Tombstones of these streams are committed here now (an erasure's bytes can go). */
  tombstonesSettled?: (streams: string[]) => void;
  /** Everything up to `position` is committed and in the engine. */
  settled?: (position: number) => void;
  /** A snapshot replaced the whole log and the engine state (see `restarted`). */
  logReplaced?: () => void;
}

/**
 * Follows this node's Raft log into the engine: every entry that enters the log (written here
 * by the leader, received from it, or installed from a snapshot) has its events applied to the
 * engine once, so a decision sees every accepted append, committed or not; a truncation takes
 * the replaced entries back out; a commit settles the engine and hands the batch to the
 * publisher. It is the replicator's hooks.
 */
export class EngineFollower implements ReplicatorHooks {
  /**
   * The last Raft entry whose events are in the engine. Every entry of this node's log up to it
   * is applied, committed or not; `engine.nextPosition` is the position after its last event.
   */
  private engineIndex: number;
  /**
   * Term and first position of each entry in the engine that is not yet committed, in index
   * order (so in position order). A committed entry is never replaced, so it leaves this map
   * at commit; an entry at an index here with another term means another leader's replaced it.
   */
  private readonly uncommitted = new Map<number, UncommittedEntry>();

  constructor(
    readonly engine: EngineState,
    private readonly publisher: Publisher,
    lastIndexOnDisk: number,
    private readonly observers: FollowerObservers,
  ) {
    // Everything on disk is in the engine (replayed at open); only the committed prefix is visible.
    this.engineIndex = lastIndexOnDisk;
  }

  /** The last Raft entry whose events are in the engine. */
  get lastIndex(): number {
    return this.engineIndex;
  }

  appended(entry: Entry, bytes: Buffer, first: number, last: number): void {
    const known = this.uncommitted.get(entry.index);
    if (entry.index <= this.engineIndex && known !== undefined && known.term !== entry.term) {
      // The engine holds another leader's entry at this index (never written): forget it and what followed.
      this.forgetFrom(entry.index, known.position - 1);
    }
    if (entry.index > this.engineIndex) {
      if (first !== this.engine.nextPosition) {
        invariantFailed(
          `entry ${entry.index} starts at position ${first}, the engine is at ${this.engine.nextPosition}`,
        );
      }
      if (last >= first) this.applyBatch(bytes, first);
      this.proposed(entry.index, entry.term, first);
    }
    if (last >= first) this.publisher.enqueue(entry.index, last, bytes);
  }

  truncated(index: number, lastPosition: number): void {
    this.forgetFrom(index, lastPosition);
  }

  restarted(state: EngineState, index: number, position: number): void {
    replaceState(this.engine, state);
    // All of it is committed, and the log keeps nothing before it (as after a reopen with retention).
    settleState(this.engine, position);
    forgetPositionsBelow(this.engine, position + 1);
    this.engineIndex = index;
    this.uncommitted.clear();
    this.publisher.restartAt(index, position);
    this.observers.logReplaced?.();
  }

  committed(index: number, _term: number, lastPosition: number): void {
    // Committed entries are never replaced: only uncommitted ones are kept.
    for (const key of this.uncommitted.keys()) {
      if (key > index) break;
      this.uncommitted.delete(key);
    }
    this.publisher.commit(lastPosition);
    const tombstoned = settleState(this.engine, lastPosition);
    if (tombstoned.length > 0) this.observers.tombstonesSettled?.(tombstoned);
    this.observers.settled?.(lastPosition);
  }

  roleChanged(...args: Parameters<ReplicatorHooks['roleChanged']>): void {
    this.observers.roleChanged(...args);
  }

  snapshot(...args: Parameters<NonNullable<ReplicatorHooks['snapshot']>>): void {
    this.observers.snapshot?.(...args);
  }

  /** The write path proposed entry `index` of `term`, whose events (applied already) start at `position`. */
  proposed(index: number, term: number, position: number): void {
    this.engineIndex = index;
    this.uncommitted.set(index, { term, position });
  }

  /** A decided append could not be proposed (leadership moved): the engine forgets it and what followed. */
  unpropose(firstPosition: number): void {
    truncateState(this.engine, firstPosition - 1);
  }

  /**
   * A new leader's log may end in entries its Ready loop has not written yet (received just
   * before it won): its engine takes them in before it decides anything against it.
   */
  catchUp(entries: readonly Entry[]): void {
    let next = this.engine.nextPosition;
    for (const entry of entries) {
      if (entry.index <= this.engineIndex) continue;
      const hasEvents = entry.kind === 'normal' && entry.data.byteLength > 0;
      const bytes = hasEvents
        ? Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength)
        : Buffer.alloc(0);
      const count = hasEvents ? readBatchHeader(bytes, 0).count : 0;
      this.appended(entry, bytes, next, next + count - 1);
      next += count;
    }
  }

  /** The uncommitted entry (index and term) that holds `position`, if any. */
  entryHolding(position: number): { index: number; term: number } | undefined {
    let found: { index: number; term: number } | undefined;
    // In index order, so in position order; an entry without events starts where the next one does.
    for (const [index, entry] of this.uncommitted) {
      if (entry.position > position) break;
      found = { index, term: entry.term };
    }
    return found;
  }

  private applyBatch(bytes: Buffer, first: number): void {
    const header = readBatchHeader(bytes, 0);
    let record = firstRecordOffset(0);
    for (let i = 0; i < header.count; i++) {
      applyEvent(this.engine, decodeForReplay(bytes, record, first + i, header));
      record = nextRecordOffset(bytes, record);
    }
  }

  private forgetFrom(index: number, lastPosition: number): void {
    truncateState(this.engine, lastPosition);
    this.engineIndex = Math.min(this.engineIndex, index - 1);
    for (const key of [...this.uncommitted.keys()]) if (key >= index) this.uncommitted.delete(key);
    this.publisher.dropFrom(index, lastPosition);
  }
}
