import { Progress } from './progress.js';
import type { ConfigState, NodeId } from './types.js';

export type VoteResult = 'won' | 'lost' | 'pending';

/**
 * The membership and the leader's view of every member: who votes, who learns, how far each
 * log matches, and the votes of the current election. Quorum is a majority of the voters;
 * learners are replicated to but never counted.
 */
export class ProgressTracker {
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(readonly maxInflight: number) {}

  config(): ConfigState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
  }

  isVoter(id: NodeId): boolean {
    return this.voters.has(id);
  }

  members(): NodeId[] {
    return [...this.voters, ...this.learners];
  }

  /** Sets the membership; new members start probing at `next`, members that left are dropped. */
  setConfig(config: ConfigState, next: number): void {
    this.voters = new Set(config.voters);
    this.learners = new Set(config.learners.filter((id) => !this.voters.has(id)));
    for (const id of [...this.progress.keys()]) {
      if (!this.voters.has(id) && !this.learners.has(id)) this.progress.delete(id);
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

  quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  /** The highest index a majority of voters have (the commit candidate). */
  committed(): number {
    if (this.voters.size === 0) return Number.MAX_SAFE_INTEGER;
    const matches: number[] = [];
    for (const id of this.voters) matches.push(this.progress.get(id)?.match ?? 0);
    matches.sort((a, b) => b - a);
    return matches[this.quorum() - 1]!;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  voteResult(): VoteResult {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const vote = this.votes.get(id);
      if (vote === true) granted++;
      else if (vote === false) rejected++;
    }
    const quorum = this.quorum();
    if (granted >= quorum) return 'won';
    if (this.voters.size - rejected < quorum) return 'lost';
    return 'pending';
  }

  /** A majority of voters was heard from since the last round (the leader counts itself). */
  quorumActive(self: NodeId): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === self || this.progress.get(id)?.recentActive === true) active++;
    }
    return active >= this.quorum();
  }
}
