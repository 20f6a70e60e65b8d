import type { NodeId } from './types.js';

interface PendingRead {
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
 * at that index. Heartbeats carry the newest request's context; an ack for it confirms every
 * earlier request too.
 */
export class ReadOnly {
  private readonly pending = new Map<number, PendingRead>();
  private queue: number[] = [];

  add(context: number, index: number, from: NodeId): void {
    if (this.pending.has(context)) return;
    this.pending.set(context, { context, index, from, acks: new Set() });
    this.queue.push(context);
  }

  /** Records an ack; returns how many distinct nodes acked this context (the leader included by the caller). */
  ack(context: number, from: NodeId): number {
    const read = this.pending.get(context);
    if (!read) return 0;
    read.acks.add(from);
    return read.acks.size;
  }

  /** Releases `context` and every request queued before it. */
  release(context: number): PendingRead[] {
    const at = this.queue.indexOf(context);
    if (at < 0) return [];
    const released = this.queue.slice(0, at + 1).map((ctx) => this.pending.get(ctx)!);
    for (const read of released) this.pending.delete(read.context);
    this.queue = this.queue.slice(at + 1);
    return released;
  }

  lastContext(): number {
    return this.queue.length > 0 ? this.queue[this.queue.length - 1]! : 0;
  }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }
}
