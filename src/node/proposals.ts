import type { NodeId } from '../raft/index.js';
import { NotLeaderError } from '../types/errors.js';

interface Settle {
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * What waits on entries this node proposed or asked about: a proposal's commit (as the entry
 * of its term), a 'leader' ack's durable write here, and a re-sent write's question "did entry
 * i commit as the entry of term t?". Each is answered exactly once: resolved, or rejected with
 * NOT_LEADER (the entry was replaced, or this node stopped leading) or the node's failure.
 */
export class Proposals {
  /** Entry index → the proposal waiting for it to commit as the entry of `term`. */
  private readonly committed = new Map<number, Settle & { term: number }>();
  /** Proposals acknowledged at 'leader': resolved once this node's write of them is durable, in index order. */
  private written: Array<Settle & { index: number }> = [];
  /** Entry index → who asks whether it commits as the entry of their term. */
  private readonly watchers = new Map<
    number,
    Array<{ term: number; resolve: (same: boolean) => void; reject: (error: Error) => void }>
  >();

  /**
   * True while a commit is awaited: the node keeps the process
   * alive for it (the commit may take an election or two).
   */
  get awaited(): boolean {
    return this.committed.size > 0 || this.watchers.size > 0;
  }

  /** Resolves once entry `index` commits as the entry of `term`. */
  commitOf(index: number, term: number): Promise<void> {
    return new Promise<void>((resolve, reject) => this.committed.set(index, { term, resolve, reject }));
  }

  /** Resolves once this node's own write of entry `index` is durable. */
  writeOf(index: number): Promise<void> {
    return new Promise<void>((resolve, reject) => this.written.push({ index, resolve, reject }));
  }

  /** Resolves true once entry `index` commits as the entry of `term`, false once another entry commits there. */
  watch(index: number, term: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      let list = this.watchers.get(index);
      if (!list) this.watchers.set(index, (list = []));
      list.push({ term, resolve, reject });
    });
  }

  /** Whether a proposal waits for entry `index` (a snapshot that fills it settles it). */
  isAwaiting(index: number): boolean {
    return this.committed.has(index);
  }

  /** This node's write of the entries up to `index` is durable. */
  writtenUpTo(index: number): void {
    if (this.written.length === 0) return;
    const done = this.written.filter((w) => w.index <= index);
    this.written = this.written.filter((w) => w.index > index);
    for (const waiter of done) waiter.resolve();
  }

  /** Entry `index` of `term` is committed: a proposal waiting there succeeded if it is that entry, else it was lost. */
  settle(index: number, term: number, leader: NodeId | undefined): void {
    const watching = this.watchers.get(index);
    if (watching) {
      this.watchers.delete(index);
      for (const watcher of watching) watcher.resolve(watcher.term === term);
    }
    const waiter = this.committed.get(index);
    if (!waiter) return;
    this.committed.delete(index);
    if (waiter.term === term) waiter.resolve();
    else waiter.reject(new NotLeaderError('append', leader));
  }

  /**
   * Answers NOT_LEADER now to the proposals from entry `index` on, rather than when something
   * else commits at their index: their entries were replaced by another leader's, or this
   * node stopped leading before they committed. With nobody writing to the new leader that
   * could take a whole client deadline. As for any NOT_LEADER, the outcome is unknown in
   * general (another node may hold a copy), so the caller re-sends with the same event ids,
   * which connect() does by itself. Returns whether any was dropped.
   */
  dropFrom(index: number, leader: NodeId | undefined): boolean {
    let dropped = false;
    for (const [at, waiter] of this.committed) {
      if (at < index) continue;
      this.committed.delete(at);
      waiter.reject(new NotLeaderError('append', leader));
      dropped = true;
    }
    const lost = this.written.filter((w) => w.index >= index);
    if (lost.length > 0) {
      this.written = this.written.filter((w) => w.index < index);
      for (const waiter of lost) waiter.reject(new NotLeaderError('append', leader));
    }
    return dropped;
  }

  /** Rejects everything still waiting (the node failed or stopped). */
  rejectAll(error: Error): void {
    for (const waiter of this.committed.values()) waiter.reject(error);
    this.committed.clear();
    for (const list of this.watchers.values()) for (const watcher of list) watcher.reject(error);
    this.watchers.clear();
    for (const waiter of this.written) waiter.reject(error);
    this.written = [];
  }
}
