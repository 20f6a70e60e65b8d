import type { NodeId } from './types.js';

interface PendingRead {
  /** The leader's own number for this read point: what its heartbeat round carries. */
  readonly round: number;
  /** The asker's own number for its request, given back in its answer. */
  readonly context: number;
  /** The commit index when the read arrived: it is linearizable once that is applied. */
  readonly index: number;
  /** Who asked: the leader itself, or a follower that forwarded it. */
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

/**
 * ReadIndex (Raft dissertation §6.4): the leader notes its commit index, confirms it is still
 * the leader with one heartbeat round acknowledged by a quorum, and then the read may be served
 * at that index. Heartbeats carry the newest request's round; an ack for it confirms every
 * earlier request too.
 *
 * Every node numbers its own requests from 1, so the asker's context alone does not identify a
 * request at the leader (two followers' reads would collide): the leader numbers each read
 * point itself (`round`, never reused while it runs) and answers with the asker's context.
 */
const NO_ACKS: ReadonlySet<NodeId> = new Set();

export class ReadOnly {
  private readonly pending = new Map<number, PendingRead>();
  private queue: number[] = [];
  private lastRound = 0;

  /** `keyedByAskerContext`: the test-only broken rule of RaftOptions.unsafe (collisions). */
  constructor(private readonly keyedByAskerContext = false) {}

  /** Notes a read point; returns the round its heartbeats carry. */
  add(from: NodeId, context: number, index: number): number {
    if (this.keyedByAskerContext) {
      // Broken on purpose: a second read with a context already pending is dropped.
      if (!this.pending.has(context)) {
        this.pending.set(context, { round: context, context, index, from, acks: new Set() });
        this.queue.push(context);
      }
      return context;
    }
    const round = ++this.lastRound;
    this.pending.set(round, { round, context, index, from, acks: new Set() });
    this.queue.push(round);
    return round;
  }

  /** Records an ack; returns the distinct nodes that acked this round (the leader adds itself). */
  ack(round: number, from: NodeId): ReadonlySet<NodeId> {
    const read = this.pending.get(round);
    if (!read) return NO_ACKS;
    read.acks.add(from);
    return read.acks;
  }

  /** Releases `round` and every request queued before it. */
  release(round: number): PendingRead[] {
    const at = this.queue.indexOf(round);
    if (at < 0) return [];
    const released = this.queue.slice(0, at + 1).map((r) => this.pending.get(r)!);
    for (const read of released) this.pending.delete(read.round);
    this.queue = this.queue.slice(at + 1);
    return released;
  }

  /** The round the next heartbeat carries: the newest pending one, or 0 for none. */
  lastPendingRound(): number {
    return this.queue.length > 0 ? this.queue[this.queue.length - 1]! : 0;
  }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }
}
