import { raftInvariantFailed } from './assert.js';
import type { ConfigChange } from './config-change.js';
import { Raft, type RaftOptions } from './raft.js';
import type { ProgressState } from './progress.js';
import {
  message,
  type ConfigState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Role,
  type Snapshot,
  type SoftState,
} from './types.js';

/**
 * What the node must do, in this order (etcd's Ready contract):
 * 1. persist `snapshot`, `entries` and `hardState`, with an fsync when `mustSync`;
 * 2. send `messages` (they may promise what step 1 wrote: a vote, an append's ack);
 * 3. apply `committedEntries` (and restore the state machine from `snapshot`);
 * 4. call `advance(ready)`.
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  readonly mustSync: boolean;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId;
  leader: NodeId;
  commit: number;
  applied: number;
  lastIndex: number;
  /** First entry still in the Raft log (in memory): a follower behind it needs a snapshot. */
  firstIndex: number;
  config: ConfigState;
  /** The leader's view of each member; empty on followers. */
  progress: Record<NodeId, { match: number; next: number; state: ProgressState; recentActive: boolean }>;
  leadTransferee: NodeId;
  /** Why this node is recovering lost entries (it neither votes nor campaigns meanwhile); absent when it is not. */
  recovering?: string;
}

/** A member's replication progress, as the leader tracks it. */
export interface PeerProgress {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly recentActive: boolean;
}

/**
 * The state machine behind the small API a node drives: tick, step, ready, advance. The Raft
 * state stays private: a node reads it through the accessors below, which copy nothing.
 */
export class RawNode {
  private readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private readyOut = false;

  constructor(options: RaftOptions) {
    this.raft = new Raft(options);
    this.prevSoft = this.raft.softState();
    this.prevHard = this.raft.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  /** A message from another node. Local message types are refused: use the methods below. */
  step(m: Message): void {
    if (
      m.type === 'hup' ||
      m.type === 'beat' ||
      m.type === 'check-quorum' ||
      m.type === 'propose' ||
      m.type === 'unreachable' ||
      m.type === 'snapshot-status'
    ) {
      throw new TypeError(`step() takes messages from peers, got local message type '${m.type}'`);
    }
    this.raft.step(m);
  }

  /** Starts an election now (a single node does this at start instead of waiting a timeout). */
  campaign(): void {
    this.raft.step(message({ type: 'hup', from: this.raft.id }));
  }

  /** Proposes application data; throws ProposalDroppedError unless this node leads. */
  propose(data: Uint8Array): { index: number; term: number } {
    return this.raft.propose([{ kind: 'normal', data }]);
  }

  /** Proposes several entries in one step (they get consecutive indexes). */
  proposeMany(datas: readonly Uint8Array[]): { index: number; term: number } {
    return this.raft.propose(datas.map((data) => ({ kind: 'normal' as const, data })));
  }

  /**
   * Proposes a membership change; several changes of voters at once go through a joint
   * configuration, which the leader leaves by itself. `knownAddresses` fills in members'
   * addresses the config lacks. Throws ProposalDroppedError (not leader, a change pending,
   * joint) or ConfigChangeError (a change that cannot be made).
   */
  proposeConfigChange(
    changes: ConfigChange | readonly ConfigChange[],
    knownAddresses?: Readonly<Record<NodeId, string>>,
  ): { index: number; term: number } {
    return this.raft.proposeConfigChange(changes, knownAddresses);
  }

  /** Asks for a linearizable read point; the answer comes as a ReadState with this context. */
  readIndex(context: number): void {
    if (!Number.isInteger(context) || context <= 0)
      throw new RangeError(`read context must be a positive integer, got ${context}`);
    this.raft.step(message({ type: 'read-index', from: this.raft.id, context }));
  }

  transferLeadership(to: NodeId): void {
    this.raft.step(message({ type: 'transfer-leader', from: to }));
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step(message({ type: 'unreachable', from: id, term: 0 }));
  }

  reportSnapshot(id: NodeId, delivered: boolean): void {
    this.raft.step(message({ type: 'snapshot-status', from: id, reject: !delivered }));
  }

  hasReady(): boolean {
    const raft = this.raft;
    const soft = raft.softState();
    if (soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role) return true;
    const hard = raft.hardState();
    if (!sameHardState(hard, this.prevHard)) return true;
    if (raft.log.unstable.snapshot || raft.log.unstable.entriesToWrite().length > 0) return true;
    return raft.msgs.length > 0 || raft.readStates.length > 0 || raft.log.hasNextCommittedEntries();
  }

  ready(): Ready {
    if (this.readyOut) raftInvariantFailed('ready() called again before advance()');
    const raft = this.raft;
    const soft = raft.softState();
    const hard = raft.hardState();
    const hardChanged = !sameHardState(hard, this.prevHard);
    const entries = raft.log.unstable.entriesToWrite();
    raft.log.unstable.markInProgress();
    const ready: Ready = {
      softState: soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role ? soft : undefined,
      hardState: hardChanged ? hard : undefined,
      entries,
      snapshot: raft.log.unstable.snapshot,
      committedEntries: raft.log.nextCommittedEntries(raft.maxApplyBytes),
      messages: raft.msgs,
      readStates: raft.readStates,
      mustSync:
        entries.length > 0 || (hardChanged && (hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote)),
    };
    raft.msgs = [];
    raft.readStates = [];
    if (ready.softState) this.prevSoft = ready.softState;
    this.readyOut = true;
    return ready;
  }

  /** The node did what `ready` asked. Config changes among the committed entries take effect here. */
  advance(ready: Ready): void {
    if (!this.readyOut) raftInvariantFailed('advance() without a ready()');
    this.readyOut = false;
    const raft = this.raft;
    if (ready.hardState) this.prevHard = ready.hardState;
    if (ready.snapshot) {
      raft.log.unstable.stableSnapshotTo(ready.snapshot.index);
      // The application restored its state machine from the snapshot: that is applied now.
      raft.log.applied = Math.max(raft.log.applied, ready.snapshot.index);
    }
    if (ready.entries.length > 0 && !raft.log.asyncWrites) {
      const last = ready.entries[ready.entries.length - 1]!;
      raft.onStable(last.index, last.term);
    }
    for (const entry of ready.committedEntries) {
      if (entry.kind === 'config') raft.applyConfigEntry(entry);
      raft.log.appliedTo(entry.index);
    }
    raft.maybeLeaveJoint();
  }

  /**
   * Asynchronous storage writes: the node's write of the entries up to (index, term) is
   * durable. A write of entries that were replaced meanwhile counts for nothing.
   */
  persisted(index: number, term: number): void {
    if (!this.raft.log.asyncWrites)
      raftInvariantFailed('persisted() is for asyncStorageWrites; advance() reports writes otherwise');
    this.raft.onStable(index, term);
  }

  get role(): Role {
    return this.raft.role;
  }

  /** The known leader, or NONE. */
  get leader(): NodeId {
    return this.raft.leader;
  }

  get term(): number {
    return this.raft.term;
  }

  /** The highest entry known committed. */
  get committed(): number {
    return this.raft.log.committed;
  }

  /** The highest entry the node has applied (reported through `advance`). */
  get applied(): number {
    return this.raft.log.applied;
  }

  /** The first entry still in the Raft log: a follower behind it needs a snapshot. */
  firstIndex(): number {
    return this.raft.log.firstIndex();
  }

  lastIndex(): number {
    return this.raft.log.lastIndex();
  }

  /** The term of entry `index`, or undefined when it is not in the log (compacted or beyond its end). */
  termAt(index: number): number | undefined {
    return this.raft.log.term(index);
  }

  /** Entries `from..to` (inclusive) of the log, unstable ones included. */
  entries(from: number, to: number): Entry[] {
    return this.raft.log.slice(from, to + 1, Number.MAX_SAFE_INTEGER);
  }

  /** The membership in force. */
  config(): ConfigState {
    return this.raft.tracker.config();
  }

  /** Term, vote and commit index as they are now (what a node persists). */
  hardState(): HardState {
    return this.raft.hardState();
  }

  /** Voters in the membership in force (of both sets, when joint). */
  get voterCount(): number {
    return this.raft.tracker.allVoters().length;
  }

  /** Learners in the membership in force (replicated to, never counted). */
  get learnerCount(): number {
    return this.raft.tracker.learners.size;
  }

  isVoter(id: NodeId): boolean {
    return this.raft.tracker.isVoter(id);
  }

  /** Visits each member's progress (the leader's view; nothing on a follower). */
  withProgress(visit: (id: NodeId, progress: PeerProgress) => void): void {
    if (this.raft.role !== 'leader') return;
    for (const [id, pr] of this.raft.tracker.progress) visit(id, pr);
  }

  /** One member's progress (the leader's view), undefined on a follower or for a stranger. */
  progressOf(id: NodeId): PeerProgress | undefined {
    return this.raft.role === 'leader' ? this.raft.tracker.progress.get(id) : undefined;
  }

  status(): RaftStatus {
    const raft = this.raft;
    const progress: RaftStatus['progress'] = {};
    if (raft.role === 'leader') {
      for (const [id, pr] of raft.tracker.progress)
        progress[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive };
    }
    return {
      id: raft.id,
      role: raft.role,
      term: raft.term,
      vote: raft.vote,
      leader: raft.leader,
      commit: raft.log.committed,
      applied: raft.log.applied,
      lastIndex: raft.log.lastIndex(),
      firstIndex: raft.log.firstIndex(),
      config: raft.tracker.config(),
      progress,
      leadTransferee: raft.leadTransferee,
      ...(raft.recoveringReason() !== undefined ? { recovering: raft.recoveringReason()! } : {}),
    };
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit && a.recovering === b.recovering;
}
