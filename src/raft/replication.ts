import { raftInvariantFailed } from './assert.js';
import type { RaftLog } from './raft-log.js';
import type { ProgressTracker } from './tracker.js';
import { message, type Message, type NodeId } from './types.js';

/**
 * The leader's side of log replication: what to send each follower (entries, a heartbeat, or a
 * snapshot when the entries it needs are compacted), paced by its progress and flow control.
 */
export class LeaderReplication {
  constructor(
    private readonly id: NodeId,
    private readonly log: RaftLog,
    private readonly tracker: ProgressTracker,
    private readonly maxMessageBytes: number,
    private readonly send: (m: Message) => void,
  ) {}

  broadcastAppend(): void {
    for (const id of this.tracker.members()) if (id !== this.id) this.sendAppend(id);
  }

  broadcastHeartbeat(context: number): void {
    for (const id of this.tracker.members()) {
      if (id === this.id) continue;
      const pr = this.tracker.progress.get(id)!;
      // Never tell a follower to commit beyond what it is known to have.
      this.send(message({ type: 'heartbeat', to: id, commit: Math.min(pr.match, this.log.committed), context }));
    }
  }

  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends the next append (or a snapshot if the entries it needs are compacted). With
   * `sendIfEmpty` false, only sends when there are entries: used to stream on.
   */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) {
      return this.sendSnapshot(to);
    }
    const sent = this.log.entriesFrom(pr.next, this.maxMessageBytes);
    if (sent.length === 0 && !sendIfEmpty) return false;
    this.send(
      message({ type: 'append', to, index: prevIndex, logTerm: prevTerm, entries: sent, commit: this.log.committed }),
    );
    pr.sentEntries(sent.length > 0 ? sent[sent.length - 1]!.index : prevIndex, sent.length);
    return true;
  }

  private sendSnapshot(to: NodeId): boolean {
    const pr = this.tracker.progress.get(to)!;
    if (!pr.recentActive) return false; // don't ship a snapshot to a node that may be down
    const snapshot = this.log.snapshot();
    if (snapshot.index === 0) raftInvariantFailed(`need a snapshot for ${to} but none exists`);
    this.send(message({ type: 'snapshot', to, snapshot }));
    pr.becomeSnapshot(snapshot.index);
    return true;
  }
}
