import type { ConfigEntry, ConfigState, Entry, NodeId } from '../src/raft/index.js';
import { decodeBatch } from './entry-codec.js';

/** A broken safety or liveness property, with what was seen. */
export class Violation extends Error {
  constructor(
    readonly property: string,
    detail: string,
  ) {
    super(`${property}: ${detail}`);
    this.name = 'Violation';
  }
}

/**
 * The history every node's actions are checked against, after every step:
 * - election safety: at most one leader per term;
 * - log matching: two logs with an entry of the same index and term hold the same prefix
 *   (compared through the hash chain over the prefix);
 * - leader completeness: a new leader holds the newest entry any node has committed;
 * - state machine safety: no index is applied with two different entries, no position holds
 *   two different events, no event id is at two positions, applied indexes only go forwards;
 * - durability: every append acknowledged at quorum is in the log at its position, once;
 * - membership: each applied config entry changes at most one voter, or enters a joint
 *   configuration whose outgoing voters are those before it, and a joint one is followed by
 *   the entry that leaves it for its incoming voters (and, after healing, is always left).
 */
export class Checker {
  private readonly leaders = new Map<number, NodeId>();
  private readonly chainByIndexTerm = new Map<string, number>();
  /** Highest commit index any node reported, and the chain hash of its prefix. */
  maxCommitted = 0;
  private readonly committedChain = new Map<number, number>();
  private readonly appliedAt = new Map<number, number>();
  readonly eventAt = new Map<number, string>();
  private readonly positionOfId = new Map<string, number>();
  readonly acked = new Map<string, number>();

  onLeader(node: NodeId, term: number): void {
    const other = this.leaders.get(term);
    if (other !== undefined && other !== node)
      throw new Violation('election safety', `${other} and ${node} both led term ${term}`);
    this.leaders.set(term, node);
  }

  onPersisted(node: NodeId, entry: Entry, chain: number): void {
    const key = `${entry.index}:${entry.term}`;
    const seen = this.chainByIndexTerm.get(key);
    if (seen === undefined) this.chainByIndexTerm.set(key, chain);
    else if (seen !== chain)
      throw new Violation(
        'log matching',
        `${node} holds entry ${entry.index} of term ${entry.term} after a different prefix than another node`,
      );
  }

  /** A node's commit index moved to `commit`; `chain` is its hash over entries 1..commit. */
  onCommitted(node: NodeId, commit: number, chain: number | undefined, term?: number): void {
    if (term !== undefined && !this.committedTerm.has(commit)) this.committedTerm.set(commit, term);
    if (chain === undefined) return;
    const recorded = this.committedChain.get(commit);
    if (recorded === undefined) this.committedChain.set(commit, chain);
    else if (recorded !== chain)
      throw new Violation(
        'state machine safety',
        `${node} committed ${commit} with a different prefix than another node`,
      );
    if (commit > this.maxCommitted) this.maxCommitted = commit;
  }

  /**
   * A node became leader: it must hold the newest committed entry (leader completeness). Its
   * log (in memory: with asynchronous writes some of it may still be on the way to disk) must
   * have that entry's term at that index, which by log matching means the same prefix.
   */
  checkLeaderCompleteness(
    node: NodeId,
    term: number,
    termAt: (index: number) => number | undefined,
    snapshotIndex: number,
  ): void {
    const index = this.maxCommitted;
    if (index === 0 || index <= snapshotIndex) return;
    const expected = this.committedTerm.get(index);
    if (expected !== undefined && termAt(index) !== expected) {
      throw new Violation(
        'leader completeness',
        `${node} leads term ${term} without committed entry ${index} (term` +
          ` ${expected}; its log has ${termAt(index) ?? 'nothing'} there)`,
      );
    }
  }

  private readonly committedTerm = new Map<number, number>();

  onApplied(
    node: NodeId,
    entry: Entry,
    previousApplied: number,
    chain: number | undefined,
    positionBefore: number,
  ): void {
    if (entry.index !== previousApplied + 1)
      throw new Violation('state machine safety', `${node} applied ${entry.index} after ${previousApplied}`);
    if (chain !== undefined) {
      const seen = this.appliedAt.get(entry.index);
      if (seen === undefined) this.appliedAt.set(entry.index, chain);
      else if (seen !== chain)
        throw new Violation(
          'state machine safety',
          `${node} applied a different entry ${entry.index} than another node`,
        );
    }
    const batch = entry.kind === 'normal' ? decodeBatch(entry.data) : undefined;
    if (!batch) return;
    if (batch.position !== positionBefore)
      throw new Violation(
        'positions',
        `${node} applied entry ${entry.index} at position ${batch.position}, its log was at ${positionBefore}`,
      );
    batch.events.forEach((event, k) => {
      const position = batch.position + k;
      const at = this.eventAt.get(position);
      if (at !== undefined && at !== event.id)
        throw new Violation(
          'no position holds two events',
          `position ${position} holds ${at} on one node and ${event.id} on ${node}`,
        );
      this.eventAt.set(position, event.id);
      const where = this.positionOfId.get(event.id);
      if (where !== undefined && where !== position)
        throw new Violation('no duplicates', `event ${event.id} is at positions ${where} and ${position}`);
      this.positionOfId.set(event.id, position);
    });
  }

  /** The cluster acknowledged an append at quorum: its events are at these positions. */
  onAcked(ids: readonly string[], position: number): void {
    ids.forEach((id, k) => {
      const committed = this.eventAt.get(position + k);
      if (committed !== id)
        throw new Violation(
          'acknowledged write',
          `acked ${id} at ${position + k}, but that position holds ${committed ?? 'nothing applied'}`,
        );
      this.acked.set(id, position + k);
    });
  }

  /** `node` applies config entry `index`, with `before` in force. */
  onConfigApplied(node: NodeId, index: number, before: ConfigState, entry: ConfigEntry): void {
    const after = entry.config;
    const fail = (why: string) => {
      throw new Violation(
        'membership',
        `${node} applied config ${index} ${JSON.stringify(after)} after ${JSON.stringify(before)}: ${why}`,
      );
    };
    // A node outside the bootstrap membership knows none before its first config entry.
    if (before.voters.length === 0 && !before.votersOutgoing?.length) return;
    const same = (a: readonly string[] | undefined, b: readonly string[] | undefined) =>
      JSON.stringify([...(a ?? [])].sort()) === JSON.stringify([...(b ?? [])].sort());
    if (before.votersOutgoing?.length) {
      if (after.votersOutgoing?.length) fail('a joint config followed by another joint one');
      if (!same(after.voters, before.voters)) fail('the joint config was left for other voters than its incoming ones');
      if (entry.changes.length > 0) fail('a change made while joint');
      return;
    }
    if (after.votersOutgoing?.length) {
      if (!same(after.votersOutgoing, before.voters)) fail('the outgoing voters are not the voters before');
      return;
    }
    const changed =
      after.voters.filter((id) => !before.voters.includes(id)).length +
      before.voters.filter((id) => !after.voters.includes(id)).length;
    if (changed > 1) fail(`${changed} voters changed without a joint configuration`);
  }
}
