import { Progress } from './progress.js';
import type { ConfigState, NodeId } from './types.js';

export type VoteResult = 'won' | 'lost' | 'pending';

/**
 * The membership and the leader's view of every member: who votes, who learns, how far each
 * log matches, and the votes of the current election. Quorum is a majority of the voters;
 * learners are replicated to but never counted.
 *
 * In a joint configuration (Raft dissertation §4.3) there are two voter sets, the incoming
 * `voters` and the `outgoing` ones; an election or a commit then needs a majority of each.
 */
export class ProgressTracker {
  voters = new Set<NodeId>();
  /** Empty unless joint; invariant: while joint it is the voter set the joint entry replaced. */
  outgoing = new Set<NodeId>();
  /** Invariant: disjoint from `voters` and from `outgoing`. */
  learners = new Set<NodeId>();
  /** Where peers reach each member, as the applied config names them (`host:port`). */
  addresses: Readonly<Record<NodeId, string>> | undefined;
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(readonly maxInflight: number) {}

  config(): ConfigState {
    const config: ConfigState = { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
    const joint = this.isJoint() ? { ...config, votersOutgoing: [...this.outgoing].sort() } : config;
    return this.addresses ? { ...joint, addresses: this.addresses } : joint;
  }

  isJoint(): boolean {
    return this.outgoing.size > 0;
  }

  /** A voter of either set: it campaigns, votes and counts toward commit. */
  isVoter(id: NodeId): boolean {
    return this.voters.has(id) || this.outgoing.has(id);
  }

  /** Every voter of either set, once. */
  allVoters(): NodeId[] {
    return [...new Set([...this.voters, ...this.outgoing])].sort();
  }

  /** The only voter is `id`: it needs nobody to elect it, commit or confirm a read. */
  isSingleVoter(id: NodeId): boolean {
    const all = this.allVoters();
    return all.length === 1 && all[0] === id;
  }

  members(): NodeId[] {
    return [...this.allVoters(), ...this.learners];
  }

  /** Sets the membership; new members start probing at `next`, members that left are dropped. */
  setConfig(config: ConfigState, next: number): void {
    this.voters = new Set(config.voters);
    this.outgoing = new Set(config.votersOutgoing ?? []);
    this.addresses = config.addresses;
    this.learners = new Set(config.learners.filter((id) => !this.isVoter(id)));
    for (const id of [...this.progress.keys()]) {
      if (!this.isVoter(id) && !this.learners.has(id)) this.progress.delete(id);
    }
    for (const id of this.members()) {
      let pr = this.progress.get(id);
      if (!pr) {
        pr = new Progress(next, this.maxInflight, false);
        // A new member counts as active, so the leader's next quorum check does not fail on it.
        pr.recentActive = true;
        this.progress.set(id, pr);
      }
      pr.isLearner = this.learners.has(id);
    }
  }

  /** The highest index a majority of voters (of each set, when joint) have: the commit candidate. */
  committed(): number {
    return Math.min(this.majorityIndex(this.voters), this.majorityIndex(this.outgoing));
  }

  private majorityIndex(voters: ReadonlySet<NodeId>): number {
    if (voters.size === 0) return Number.MAX_SAFE_INTEGER;
    const matches: number[] = [];
    for (const id of voters) matches.push(this.progress.get(id)?.match ?? 0);
    matches.sort((a, b) => b - a);
    return matches[majority(voters.size) - 1]!;
  }

  /** `ids` hold a majority of the voters (of each set, when joint). */
  hasQuorum(ids: ReadonlySet<NodeId>): boolean {
    const count = (voters: ReadonlySet<NodeId>) => [...voters].filter((id) => ids.has(id)).length;
    const holds = (voters: ReadonlySet<NodeId>) => voters.size === 0 || count(voters) >= majority(voters.size);
    return holds(this.voters) && holds(this.outgoing);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** Won once a majority of each voter set granted; lost once either set can no longer grant one. */
  voteResult(): VoteResult {
    const incoming = this.setVoteResult(this.voters);
    const outgoing = this.setVoteResult(this.outgoing);
    if (incoming === 'lost' || outgoing === 'lost') return 'lost';
    if (incoming === 'won' && outgoing === 'won') return 'won';
    return 'pending';
  }

  private setVoteResult(voters: ReadonlySet<NodeId>): VoteResult {
    if (voters.size === 0) return 'won';
    let granted = 0;
    let rejected = 0;
    for (const id of voters) {
      const vote = this.votes.get(id);
      if (vote === true) granted++;
      else if (vote === false) rejected++;
    }
    const quorum = majority(voters.size);
    if (granted >= quorum) return 'won';
    if (voters.size - rejected < quorum) return 'lost';
    return 'pending';
  }

  /** A majority of voters was heard from since the last round (the leader counts itself). */
  quorumActive(self: NodeId): boolean {
    const active = new Set<NodeId>();
    for (const id of this.allVoters()) {
      if (id === self || this.progress.get(id)?.recentActive === true) active.add(id);
    }
    return this.hasQuorum(active);
  }
}

function majority(size: number): number {
  return Math.floor(size / 2) + 1;
}
