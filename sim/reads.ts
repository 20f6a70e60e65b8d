import type { NodeId, ReadState } from '../src/raft/index.js';
import { Violation } from './checker.js';

/**
 * The clients' ReadIndex reads. Each node numbers its own requests from 1, as a real node
 * does, so two nodes' numbers meet at the leader; a read is identified by the node it was asked
 * of and that number. Linearizability: an answer is at or past every index any node had
 * committed before the read was asked (so it sees every acknowledged write).
 */
export class SimReads {
  /** Unanswered reads: the highest index any node had committed when each was asked. */
  private readonly asked = new Map<string, number>();
  /** The last number each node gave a read (kept across its restarts). */
  private readonly lastContext = new Map<NodeId, number>();

  /** Notes a read asked of `node`; returns the context the node asks Raft with. */
  ask(node: NodeId, required: number): number {
    const context = (this.lastContext.get(node) ?? 0) + 1;
    this.lastContext.set(node, context);
    this.asked.set(key(node, context), required);
    return context;
  }

  /** `node` got an answer: it must not be older than what was committed before it was asked. */
  answered(node: NodeId, read: ReadState): void {
    const required = this.asked.get(key(node, read.context));
    if (required === undefined) return;
    if (read.index < required) {
      throw new Violation(
        'linearizable reads',
        `${node} answered its read ${read.context} at ${read.index},` +
          ` but ${required} was committed before it was asked`,
      );
    }
    this.asked.delete(key(node, read.context));
  }

  /** The read `context` asked of `node` has no answer yet. */
  unanswered(node: NodeId, context: number): boolean {
    return this.asked.has(key(node, context));
  }
}

function key(node: NodeId, context: number): string {
  return `${node}:${context}`;
}
