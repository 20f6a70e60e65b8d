import { raftInvariantFailed } from './assert.js';
import { applyChanges, decodeConfigEntry, encodeConfigEntry, leaveJoint, type ConfigChange } from './config-change.js';
import {
  DEFAULT_ELECTION_TICKS,
  DEFAULT_HEARTBEAT_TICKS,
  DEFAULT_MAX_APPLY_BYTES,
  DEFAULT_MAX_INFLIGHT_MESSAGES,
  DEFAULT_MAX_MESSAGE_BYTES,
  type RaftOptions,
} from './options.js';
import type { RandomSource } from './random.js';
import { answerAppend, answerHeartbeat, answerSnapshot } from './follower.js';
import { checkProposal } from './proposal.js';
import { RaftLog } from './raft-log.js';
import { stepLeader } from './leader.js';
import { LeaderReads } from './read-index.js';
import { LeaderReplication } from './replication.js';
import { ProgressTracker } from './tracker.js';
import {
  EMPTY_DATA,
  NONE,
  isLocalMessage,
  message,
  type ConfigState,
  type Entry,
  type EntryKind,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Role,
  type SoftState,
} from './types.js';

export type { RaftOptions } from './options.js';

type Campaign = 'pre-election' | 'election' | 'transfer';

/**
 * The Raft state machine (etcd-io/raft's `raft` struct): pure, driven only by `step()` and
 * `tick()`. Its outputs wait in `msgs`, `readStates` and the log's unstable part until the
 * RawNode collects them into a Ready.
 */
export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  role: Role = 'follower';
  leader: NodeId = NONE;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  private readonly random: RandomSource;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly maxMessageBytes: number;
  readonly maxApplyBytes: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly unsafeVote: boolean;
  /** Internal to raft/ (for leader.ts): test-only, see RaftOptions.unsafe. */
  readonly ignoreRejectionBelowMatch: boolean;

  /** Internal to raft/ (public for leader.ts, which steps the leader). */
  electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** Leader: the index of the last config change proposed; no new one until it is applied. */
  private pendingConfigIndex = 0;
  leadTransferee: NodeId = NONE;
  /**
   * Leader: the index of the applied config entry that removed it from the voters (0: it is a
   * voter). Invariant: nonzero only while leader, and then it takes no proposals. It leads on
   * until a quorum of the voters reported a commit index at or past it: until then they may
   * still count it (or the old voters) in their quorum and could elect nobody without it.
   */
  private removedAt = 0;
  /**
   * Why this node is recovering (it lost entries it had persisted), or undefined. While set:
   * no votes, no pre-votes, no campaign (transfers included).
   */
  private recovering: string | undefined;
  /**
   * While recovering: the commit index the first leader that reached us announced (0: none
   * yet). The mark clears once our commit index reaches it; a restart asks the next leader
   * again, which only waits longer.
   */
  private recoveryTarget = 0;
  /** Internal to raft/ (for leader.ts). */
  readonly replication: LeaderReplication;
  /** Internal to raft/ (for leader.ts). */
  readonly reads: LeaderReads;

  constructor(options: RaftOptions) {
    this.id = options.id;
    this.random = options.random;
    this.electionTicks = options.electionTicks ?? DEFAULT_ELECTION_TICKS;
    this.heartbeatTicks = options.heartbeatTicks ?? DEFAULT_HEARTBEAT_TICKS;
    if (this.heartbeatTicks <= 0 || this.heartbeatTicks >= this.electionTicks) {
      throw new RangeError(
        `heartbeatTicks must be in [1, electionTicks), got` +
          ` ${this.heartbeatTicks} with electionTicks ${this.electionTicks}`,
      );
    }
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxApplyBytes = options.maxApplyBytes ?? DEFAULT_MAX_APPLY_BYTES;
    this.preVote = options.preVote ?? true;
    this.checkQuorum = options.checkQuorum ?? true;
    this.unsafeVote = options.unsafe?.voteWithoutLogCheck === true;
    this.ignoreRejectionBelowMatch = options.unsafe?.ignoreRejectionBelowMatch === true;
    this.tracker = new ProgressTracker(options.maxInflightMessages ?? DEFAULT_MAX_INFLIGHT_MESSAGES);
    this.log = new RaftLog(options.storage);
    this.log.asyncWrites = options.asyncStorageWrites === true;
    this.replication = new LeaderReplication(this.id, this.log, this.tracker, this.maxMessageBytes, (m) =>
      this.send(m),
    );
    this.reads = new LeaderReads(
      this.id,
      this.log,
      this.tracker,
      this.replication,
      (from, index, context) => this.answerRead(from, index, context),
      options.unsafe,
    );

    const { hardState, config } = options.storage.initialState();
    this.tracker.setConfig(config, this.log.lastIndex() + 1);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.recovering = hardState.recovering;
    // The commit index is a hint, not a promise: a torn write can leave the hard state ahead
    // of the entries that reached the disk. Those entries are committed on a quorum elsewhere.
    this.log.commitTo(Math.min(hardState.commit, this.log.lastIndex()));
    if (options.applied !== undefined && options.applied > this.log.applied) this.log.appliedTo(options.applied);
    this.becomeFollower(this.term, NONE);
  }

  hardState(): HardState {
    const hard = { term: this.term, vote: this.vote, commit: this.log.committed };
    return this.recovering === undefined ? hard : { ...hard, recovering: this.recovering };
  }

  /** Why this node is recovering (lost persisted entries), or undefined when it is not. */
  recoveringReason(): string | undefined {
    return this.recovering;
  }

  softState(): SoftState {
    return { leader: this.leader, role: this.role };
  }

  /** Can this node become leader? Only a voter of the current membership can. */
  promotable(): boolean {
    return this.tracker.isVoter(this.id);
  }

  // ---- time ----

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(message({ type: 'hup', from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(message({ type: 'check-quorum', from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(message({ type: 'beat', from: this.id }));
    }
  }

  // ---- role changes ----

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.leader = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.random.int(this.electionTicks);
    this.leadTransferee = NONE;
    this.tracker.resetVotes();
    const next = this.log.lastIndex() + 1;
    for (const [id, pr] of this.tracker.progress) {
      pr.reset(next, id === this.id ? this.log.stableIndex() : 0, id === this.id);
    }
    this.pendingConfigIndex = 0;
    this.removedAt = 0;
    this.reads.reset();
  }

  becomeFollower(term: number, leader: NodeId): void {
    this.reset(term);
    this.leader = leader;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    if (this.role === 'leader') raftInvariantFailed('leader cannot become pre-candidate');
    // A pre-election does not raise the term or change the vote.
    this.tracker.resetVotes();
    this.leader = NONE;
    this.role = 'pre-candidate';
  }

  private becomeCandidate(): void {
    if (this.role === 'leader') raftInvariantFailed('leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    if (this.role === 'follower') raftInvariantFailed('follower cannot become leader without an election');
    this.reset(this.term);
    this.leader = this.id;
    this.role = 'leader';
    const self = this.tracker.progress.get(this.id);
    if (self) self.becomeReplicate();
    // No config change before the current one is applied: the log may end in an unapplied one.
    this.pendingConfigIndex = this.log.lastIndex();
    // An empty entry of the new term: committing it commits everything before (§5.4.2), and
    // it is what lets ReadIndex and config changes start.
    this.appendEntries([{ kind: 'normal', data: EMPTY_DATA }]);
  }

  // ---- campaigning ----

  private hup(campaign: Campaign): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) return;
    // It may lack entries it acknowledged: leading now could commit a log without them.
    if (this.recovering !== undefined) return;
    // An unapplied committed config change may remove us or change the quorum: apply it first.
    if (this.hasUnappliedConfigChange()) return;
    this.campaign(campaign);
  }

  private hasUnappliedConfigChange(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    if (this.log.applied + 1 < this.log.firstIndex()) return false;
    const entries = this.log.slice(this.log.applied + 1, this.log.committed + 1, Number.MAX_SAFE_INTEGER);
    return entries.some((entry) => entry.kind === 'config');
  }

  private campaign(campaign: Campaign): void {
    let term: number;
    let type: 'vote' | 'pre-vote';
    if (campaign === 'pre-election') {
      this.becomePreCandidate();
      type = 'pre-vote';
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      type = 'vote';
      term = this.term;
    }
    this.tracker.recordVote(this.id, true);
    if (this.tracker.voteResult() === 'won') {
      // A cluster of one wins at once.
      if (campaign === 'pre-election') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const id of this.tracker.allVoters()) {
      if (id === this.id) continue;
      this.send(message({ type, to: id, term, index: lastIndex, logTerm, transfer: campaign === 'transfer' }));
    }
  }

  // ---- the one entry point ----

  step(m: Message): void {
    if (
      m.term === 0 &&
      !isLocalMessage(m.type) &&
      m.type !== 'propose' &&
      m.type !== 'read-index' &&
      m.type !== 'transfer-leader'
    ) {
      // A remote message always carries a term (≥ 1). Term-0 forms are local requests only.
      return;
    }
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'pre-vote') {
        // Within a leader's lease (heard from it less than an election timeout ago), ignore a
        // vote request from a node that merely lost contact: it must not depose a live leader.
        const inLease = this.checkQuorum && this.leader !== NONE && this.electionElapsed < this.electionTicks;
        if (!m.transfer && inLease) return;
      }
      if (m.type === 'pre-vote') {
        // Never raise the term for a pre-vote.
      } else if (m.type === 'pre-vote-response' && !m.reject) {
        // We raised the term in our pre-vote; a grant carries that future term. Not a reason to step down.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term > 0 && m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'heartbeat' || m.type === 'append')) {
        // A stale leader (e.g. back from a partition) learns the new term from this and steps
        // down; without it, with pre-votes it could never hear of the newer term.
        this.send(message({ type: 'append-response', to: m.from }));
      } else if (m.type === 'pre-vote') {
        this.send(message({ type: 'pre-vote-response', to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case 'hup':
        this.hup(this.preVote ? 'pre-election' : 'election');
        return;
      case 'vote':
      case 'pre-vote':
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    // Candidates and pre-candidates share one step: both count votes and yield to a leader.
    if (this.role === 'leader') stepLeader(this, m);
    else if (this.role === 'follower') this.stepFollower(m);
    else this.stepCandidate(m);
  }

  private handleVoteRequest(m: Message): void {
    const responseType = m.type === 'vote' ? 'vote-response' : 'pre-vote-response';
    // We may vote for the same node again (a repeated request), for anyone if we have not
    // voted and know no leader, and pre-vote for a future term.
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.leader === NONE) ||
      (m.type === 'pre-vote' && m.term > this.term);
    const upToDate = this.unsafeVote || this.log.isUpToDate(m.index, m.logTerm);
    // A recovering node's log may lack entries it acknowledged: its vote could elect a leader
    // without them (its log looks shorter than it was when it promised).
    if (canVote && upToDate && this.recovering === undefined) {
      // The response carries the request's term: a pre-vote's future term must not be
      // mistaken for a stale answer by the candidate.
      this.send(message({ type: responseType, to: m.from, term: m.term }));
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(message({ type: responseType, to: m.from, term: this.term, reject: true }));
    }
  }

  /**
   * After a message from the leader of our term (elected without our vote: we gave none):
   * the first one that carries the leader's commit index sets the target, and the mark clears
   * once our own commit index reaches it. `leaderCommit` is 0 when the message does not carry
   * it (a heartbeat's is capped by what the leader believes we hold).
   */
  private maybeEndRecovery(leaderCommit: number): void {
    if (this.recovering === undefined) return;
    if (this.recoveryTarget === 0) this.recoveryTarget = leaderCommit;
    if (this.recoveryTarget > 0 && this.log.committed >= this.recoveryTarget) {
      this.recovering = undefined;
      this.recoveryTarget = 0;
    }
  }

  // ---- leader (its step is in leader.ts) ----

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private answerRead(from: NodeId, index: number, context: number): void {
    if (from === NONE || from === this.id) this.readStates.push({ index, context });
    else this.send(message({ type: 'read-index-response', to: from, index, context }));
  }

  /** Appends proposals to the leader's log; the caller checked that we are leader. */
  private appendEntries(entries: ReadonlyArray<{ kind: EntryKind; data: Uint8Array }>): Entry[] {
    let index = this.log.lastIndex();
    const stamped: Entry[] = entries.map((entry) => ({
      term: this.term,
      index: ++index,
      kind: entry.kind,
      data: entry.data,
    }));
    this.log.append(stamped);
    // The leader counts itself for commit only once the entries are on its disk (stableTo).
    return stamped;
  }

  /** Internal to raft/ (for leader.ts). */
  maybeCommit(): boolean {
    return this.log.maybeCommit(this.tracker.committed(), this.term);
  }

  /** The node wrote entries up to (index, term): for the leader, its own vote toward commit. */
  onStable(index: number, term: number): void {
    this.log.stableTo(index, term);
    if (this.role !== 'leader') return;
    const self = this.tracker.progress.get(this.id);
    if (!self?.maybeUpdate(this.log.stableIndex())) return;
    if (this.maybeCommit()) {
      this.reads.release(this.term);
      this.replication.broadcastAppend();
    }
  }

  /**
   * Proposes entries; returns where they went. They are committed once `ready()` hands them
   * back as committed entries with the same term at the same index.
   */
  propose(entries: ReadonlyArray<{ kind: EntryKind; data: Uint8Array }>): { index: number; term: number } {
    this.checkProposal(entries);
    const stamped = this.appendEntries(entries);
    const last = stamped[stamped.length - 1]!;
    if (stamped.some((entry) => entry.kind === 'config')) this.pendingConfigIndex = last.index;
    this.replication.broadcastAppend();
    return { index: stamped[0]!.index, term: this.term };
  }

  private checkProposal(entries: ReadonlyArray<{ kind: EntryKind }>): void {
    checkProposal(entries, {
      id: this.id,
      role: this.role,
      term: this.term,
      leader: this.leader,
      member: this.removedAt === 0 && this.tracker.progress.has(this.id),
      leadTransferee: this.leadTransferee,
      pendingConfigIndex: this.pendingConfigIndex,
      joint: this.tracker.isJoint(),
      applied: this.log.applied,
      committedInTerm: () => this.committedEntryInCurrentTerm(),
    });
  }

  // ---- candidate and follower ----

  private stepCandidate(m: Message): void {
    const myResponse = this.role === 'pre-candidate' ? 'pre-vote-response' : 'vote-response';
    switch (m.type) {
      case 'append':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'pre-vote-response':
      case 'vote-response': {
        if (m.type !== myResponse) return;
        this.tracker.recordVote(m.from, !m.reject);
        const result = this.tracker.voteResult();
        if (result === 'won') {
          if (this.role === 'pre-candidate') this.campaign('election');
          else {
            this.becomeLeader();
            this.replication.broadcastAppend();
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
      // Only the leader of our term sends these: it is alive, and it is the leader.
      this.electionElapsed = 0;
      this.leader = m.from;
    }
    switch (m.type) {
      case 'append':
        this.handleAppend(m);
        this.maybeEndRecovery(m.commit);
        return;
      case 'heartbeat':
        this.handleHeartbeat(m);
        this.maybeEndRecovery(0);
        return;
      case 'snapshot':
        this.handleSnapshot(m);
        this.maybeEndRecovery(m.snapshot?.index ?? 0);
        return;
      case 'transfer-leader':
        if (this.leader !== NONE) this.send(message({ type: 'transfer-leader', to: this.leader, from: m.from }), false);
        return;
      case 'timeout-now':
        // The leader asks us to take over now, without waiting for a timeout or a pre-vote.
        this.hup('transfer');
        return;
      case 'read-index':
        // Only our own reads are forwarded. A peer's, sent here by a node that took us for the
        // leader, would be forwarded in our name: its answer would come back to us under the
        // peer's number and answer our own read of that number at the wrong point. The peer's
        // read times out and is asked again.
        if (m.from === this.id && this.leader !== NONE)
          this.send(message({ type: 'read-index', to: this.leader, context: m.context }));
        return;
      case 'read-index-response':
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  private handleAppend(m: Message): void {
    this.send(answerAppend(this.log, m));
  }

  private handleHeartbeat(m: Message): void {
    this.send(answerHeartbeat(this.log, m));
    // A heartbeat commits at most what the leader recorded as matched: beyond our last entry,
    // we lost entries we had acknowledged. Without an append to reject, the leader would
    // never learn it and never re-send them.
    const last = this.log.lastIndex();
    if (m.commit > last) {
      const hint = { index: last, term: this.log.lastTerm() };
      this.send(
        message({
          type: 'append-response',
          to: m.from,
          index: m.commit,
          reject: true,
          rejectHint: hint.index,
          logTerm: hint.term,
        }),
      );
    }
  }

  private handleSnapshot(m: Message): void {
    this.send(answerSnapshot(this.log, this.tracker, m));
  }

  // ---- config changes (applied on every node when the entry is applied) ----

  /**
   * Proposes a membership change of one or more nodes; the entry carries the whole membership
   * after it. Changes of more than one voter go through a joint configuration (config-change.ts).
   */
  proposeConfigChange(
    changes: ConfigChange | readonly ConfigChange[],
    knownAddresses?: Readonly<Record<NodeId, string>>,
  ): { index: number; term: number } {
    const list: readonly ConfigChange[] = Array.isArray(changes) ? changes : [changes as ConfigChange];
    this.checkProposal([{ kind: 'config' }]);
    // With no change pending (checked), the tracker holds the membership the log ends with.
    const config = applyChanges(this.tracker.config(), list, knownAddresses);
    return this.propose([{ kind: 'config', data: encodeConfigEntry({ changes: list, config }) }]);
  }

  applyConfigEntry(entry: Entry): ConfigState {
    const { config } = decodeConfigEntry(entry.data);
    // A new member is probed from this entry on: the first append it gets carries the
    // membership with every member's address, so a node that joins knowing one member can
    // answer the leader at once.
    this.tracker.setConfig(config, entry.index);
    if (this.role === 'leader') {
      // Removed (or demoted): lead on without proposals until the voters know (removedAt). In
      // a joint configuration the leader still votes in the outgoing set: it is removed only
      // once the entry that leaves it is applied.
      if (!this.tracker.isVoter(this.id) && this.removedAt === 0) this.removedAt = entry.index;
      if (this.leadTransferee !== NONE && !this.tracker.isVoter(this.leadTransferee)) this.leadTransferee = NONE;
      // The quorum changed: something may be committed now.
      if (this.maybeCommit()) this.reads.release(this.term);
      this.replication.broadcastAppend();
      this.maybeStepDownRemoved();
    }
    return config;
  }

  /**
   * A leader removed from the voters steps down once a quorum of them reported a commit index
   * at or past its removal (Raft dissertation §4.2.2): they then apply the membership without
   * it and elect among themselves. Stepping down earlier could leave them in the old or joint
   * membership, needing a vote from it (refused: its log is longer) or a recovering node.
   */
  maybeStepDownRemoved(): void {
    if (this.role !== 'leader' || this.removedAt === 0) return;
    const informed = new Set<NodeId>();
    for (const id of this.tracker.allVoters()) {
      if ((this.tracker.progress.get(id)?.committed ?? 0) >= this.removedAt) informed.add(id);
    }
    if (this.tracker.hasQuorum(informed)) this.becomeFollower(this.term, NONE);
  }

  /**
   * A leader whose applied membership is joint appends the entry that leaves it, once no config
   * entry is pending (the joint one is applied; a new leader waits for what its log ends with).
   */
  maybeLeaveJoint(): void {
    if (this.role !== 'leader' || !this.tracker.isJoint() || this.pendingConfigIndex > this.log.applied) return;
    const config = leaveJoint(this.tracker.config());
    const [entry] = this.appendEntries([{ kind: 'config', data: encodeConfigEntry({ changes: [], config }) }]);
    this.pendingConfigIndex = entry!.index;
    this.replication.broadcastAppend();
  }

  // ---- sending ----

  /** Internal to raft/ (for leader.ts). */
  send(m: Message, stampTerm = true): void {
    if (m.from === NONE) m.from = this.id;
    if (stampTerm && m.term === 0 && m.type !== 'transfer-leader' && m.type !== 'read-index') m.term = this.term;
    this.msgs.push(m);
  }
}
