import type { UnsafeRules } from './options.js';
import type { RaftLog } from './raft-log.js';
import { ReadOnly } from './read-only.js';
import type { LeaderReplication } from './replication.js';
import type { ProgressTracker } from './tracker.js';
import type { Message, NodeId } from './types.js';

/**
 * The leader's ReadIndex requests: held until it has committed an entry of its term, then
 * confirmed by a heartbeat round (ReadOnly) before `answer` serves them at the noted index.
 */
export class LeaderReads {
  private readonly readOnly: ReadOnly;
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  private waiting: Message[] = [];

  constructor(
    private readonly id: NodeId,
    private readonly log: RaftLog,
    private readonly tracker: ProgressTracker,
    private readonly replication: LeaderReplication,
    private readonly answer: (from: NodeId, index: number, context: number) => void,
    private readonly unsafe: UnsafeRules = {},
  ) {
    this.readOnly = new ReadOnly(unsafe.readsKeyedByAskerContext === true);
  }

  reset(): void {
    this.readOnly.reset();
    this.waiting = [];
  }

  /** The read round the next heartbeat carries (0: none pending). */
  lastContext(): number {
    return this.readOnly.lastPendingRound();
  }

  request(m: Message, term: number): void {
    // Only a sole voter confirms its reads alone: a leader removed from the voters leads on
    // for a while, and the one voter left may already have a leader of a later term.
    if (this.tracker.isSingleVoter(this.id)) {
      this.answer(m.from, this.log.committed, m.context);
      return;
    }
    if (!this.committedEntryInTerm(term)) {
      // Our commit index may lag the previous leader's until our own entry commits.
      this.waiting.push(m);
      return;
    }
    const round = this.readOnly.add(m.from, m.context, this.log.committed);
    this.replication.broadcastHeartbeat(round);
  }

  /** Takes up the requests that waited for an entry of `term` to commit, once one has. */
  release(term: number): void {
    if (this.waiting.length === 0 || !this.committedEntryInTerm(term)) return;
    const waiting = this.waiting;
    this.waiting = [];
    for (const m of waiting) this.request(m, term);
  }

  /**
   * A follower acked a heartbeat: the reads it confirms for a quorum are answered. Only voters
   * count: a learner's ack recorded beside a voter's would let a deposed leader, cut off from
   * most voters, confirm a stale read point.
   */
  onHeartbeatAck(m: Message): void {
    if (m.context === 0) return;
    const countLearners = this.unsafe.readQuorumCountsLearners === true;
    if (!countLearners && !this.tracker.isVoter(m.from)) return;
    const acks = this.readOnly.ack(m.context, m.from);
    if (acks.size === 0) return;
    // The leader's own ack is implicit (the answer is addressed to it).
    const confirmed = countLearners
      ? acks.size + 1 > this.tracker.voters.size / 2
      : this.tracker.hasQuorum(new Set([...acks, m.to]));
    if (!confirmed) return;
    for (const read of this.readOnly.release(m.context)) this.answer(read.from, read.index, read.context);
  }

  private committedEntryInTerm(term: number): boolean {
    return this.log.term(this.log.committed) === term;
  }
}
