import { Inflights } from './inflights.js';

/**
 * How the leader sees one follower (etcd's Progress):
 * - `probe`: we do not know where its log matches ours; one append at a time until it answers;
 * - `replicate`: it matches up to `match`; appends stream optimistically up to the inflight window;
 * - `snapshot`: it needs a snapshot; nothing else is sent until it has it.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  /** The follower's commit index, as its last answer of this term reported it. */
  committed = 0;
  state: ProgressState = 'probe';
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** In probe: an append was sent and not yet answered. */
  probeSent = false;
  readonly inflights: Inflights;

  constructor(
    public next: number,
    maxInflight: number,
    public isLearner: boolean,
  ) {
    this.inflights = new Inflights(maxInflight);
  }

  /** A new term: nothing is known about the follower but where the leader's log ends. */
  reset(next: number, match: number, active: boolean): void {
    this.resetState('probe');
    this.match = match;
    this.committed = 0;
    this.next = next;
    this.recentActive = active;
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.resetState('probe');
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** The follower has everything up to `index`. False if that is old news. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** An append ending at `lastIndex` was sent. */
  sentEntries(lastIndex: number, entryCount: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /**
   * The follower rejected an append after `rejected`; `matchHint` is where it thinks we agree.
   * False if the rejection is stale (from an older round). `ignoreBelowMatch` is the test-only
   * broken rule of RaftOptions.unsafe: a follower that lost entries then stalls.
   */
  maybeDecrTo(rejected: number, matchHint: number, ignoreBelowMatch = false): boolean {
    if (!ignoreBelowMatch && this.state !== 'snapshot' && rejected <= this.match && matchHint < this.match) {
      return this.lostEntries(matchHint);
    }
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /**
   * The follower rejected an entry we recorded as matched, and says its log agrees with ours
   * only up to `matchHint`, below the match: it lost entries it had acknowledged (a node that
   * recovers from damage to its disk), or the rejection is an old one overtaken by later
   * acknowledgements. Either way lowering the match is safe: it only decides where to send
   * from and what counts toward commit, and the commit index never moves back. An old
   * rejection costs one probe, whose answer raises the match again; ignoring a real one would
   * leave the follower stalled forever, rejected below a match that never moves.
   */
  private lostEntries(matchHint: number): boolean {
    this.match = matchHint;
    this.becomeProbe();
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
