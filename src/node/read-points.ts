import type { NodeId, ReadState } from '../raft/index.js';
import { NotLeaderError } from '../types/errors.js';
import type { Timers } from './environment.js';

/**
 * Linearizable read points (Raft's ReadIndex) waiting to be answered: each asks Raft with a
 * context of its own, gets the leader's commit index back as a ReadState, and resolves once
 * this node has applied that far. One that hears nothing within its timeout answers NOT_LEADER.
 */
export class ReadPoints {
  private lastContext = 0;
  private readonly waiting = new Map<number, { resolve: (index: number) => void; reject: (error: Error) => void }>();
  private appliedWaiters: Array<{ index: number; then: () => void }> = [];

  constructor(
    private readonly timers: Timers,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Asks for a read point through `ask(context)`; resolves with its index once `applied()`
   * reaches it. Not unref'd: a read waiting for its read point keeps the process alive, as a
   * socket would.
   */
  request(
    operation: string,
    leader: () => NodeId | undefined,
    applied: () => number,
    ask: (context: number) => void,
  ): Promise<number> {
    const context = ++this.lastContext;
    return new Promise<number>((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        if (this.waiting.delete(context)) reject(new NotLeaderError(operation, leader()));
      }, this.timeoutMs);
      this.waiting.set(context, {
        resolve: (index) => {
          this.timers.clearTimeout(timer);
          this.whenApplied(index, applied(), () => resolve(index));
        },
        reject,
      });
      ask(context);
    });
  }

  /** Raft answered these read points. */
  answer(states: readonly ReadState[], applied: number): void {
    for (const state of states) {
      const read = this.waiting.get(state.context);
      if (!read) continue;
      this.waiting.delete(state.context);
      read.resolve(state.index);
    }
    this.applied(applied);
  }

  /** This node has applied up to `index`: reads waiting for it go on. */
  private applied(index: number): void {
    if (this.appliedWaiters.length === 0) return;
    const due = this.appliedWaiters.filter((w) => w.index <= index);
    this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > index);
    for (const waiter of due) waiter.then();
  }

  private whenApplied(index: number, applied: number, then: () => void): void {
    if (applied >= index) then();
    else this.appliedWaiters.push({ index, then });
  }
}
