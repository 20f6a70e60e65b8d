import type { Progress } from './progress.js';
import type { RaftLog } from './raft-log.js';
import type { LeaderReads } from './read-index.js';
import type { LeaderReplication } from './replication.js';
import type { ProgressTracker } from './tracker.js';
import { NONE, message, type Message, type NodeId } from './types.js';

/**
 * What the leader's step reads and changes on its Raft node. `Raft` is one (it cannot be named
 * here: raft.ts imports this module); the members its callers do not use are marked internal there.
 */
export interface LeaderNode {
  readonly id: NodeId;
  readonly term: number;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  readonly replication: LeaderReplication;
  readonly reads: LeaderReads;
  leadTransferee: NodeId;
  /** Test-only broken rule (RaftOptions.unsafe): a rejection at or below the match is ignored. */
  readonly ignoreRejectionBelowMatch: boolean;
  electionElapsed: number;
  becomeFollower(term: number, leader: NodeId): void;
  /** A leader no longer a voter steps down once a quorum of the voters knows that is committed. */
  maybeStepDownRemoved(): void;
  /** Commits what a quorum holds; true if the commit index moved. */
  maybeCommit(): boolean;
  send(m: Message): void;
}

/**
 * The leader's step: what a leader does with each message of its term (heartbeats, the quorum
 * check, reads, leadership transfer) and with its followers' answers, which move their progress
 * and the commit index.
 */
export function stepLeader(node: LeaderNode, m: Message): void {
  switch (m.type) {
    case 'beat':
      node.replication.broadcastHeartbeat(node.reads.lastContext());
      // A probe the transport could not send (see 'unreachable') goes again with the heartbeat:
      // a node that just joined learns where the leader is from the entries it carries, and
      // until then cannot answer a heartbeat.
      for (const [id, pr] of node.tracker.progress)
        if (id !== node.id && pr.state === 'probe' && !pr.isPaused()) node.replication.sendAppend(id);
      return;
    case 'check-quorum':
      if (!node.tracker.quorumActive(node.id)) {
        node.becomeFollower(node.term, NONE);
        return;
      }
      for (const [id, pr] of node.tracker.progress) if (id !== node.id) pr.recentActive = false;
      return;
    case 'propose':
      // Handled by propose(): a proposal is never a message in this implementation.
      return;
    case 'read-index':
      node.reads.request(m, node.term);
      return;
    case 'transfer-leader':
      leaderTransfer(node, m.from);
      return;
    default:
      break;
  }
  const pr = node.tracker.progress.get(m.from);
  if (!pr) return; // not a member (any more)
  switch (m.type) {
    case 'append-response':
      pr.committed = Math.max(pr.committed, m.commit);
      onAppendResponse(node, m, pr);
      node.maybeStepDownRemoved();
      return;
    case 'heartbeat-response':
      pr.committed = Math.max(pr.committed, m.commit);
      onHeartbeatResponse(node, m, pr);
      node.maybeStepDownRemoved();
      return;
    case 'snapshot-status':
      if (pr.state !== 'snapshot') return;
      if (m.reject) pr.pendingSnapshot = 0;
      pr.becomeProbe();
      // Wait for the follower's answer (or a heartbeat) before the next append.
      pr.probeSent = true;
      return;
    case 'unreachable':
      if (pr.state === 'replicate') pr.becomeProbe();
      // The probe did not leave: nothing is in flight to wait for.
      else if (pr.state === 'probe') pr.probeSent = false;
      return;
    default:
      return;
  }
}

/** A follower's answer to an append: move its progress, then commit and send what is due. */
function onAppendResponse(node: LeaderNode, m: Message, pr: Progress): void {
  pr.recentActive = true;
  if (m.reject) {
    let hint = m.rejectHint;
    if (m.logTerm > 0) hint = node.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
    if (pr.maybeDecrTo(m.index, hint, node.ignoreRejectionBelowMatch)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      node.replication.sendAppend(m.from);
    }
    return;
  }
  const wasPaused = pr.isPaused();
  // Also when the follower had this already but we fell back to probing it (e.g. it was unreachable).
  if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === 'probe')) return;
  if (pr.state === 'probe') pr.becomeReplicate();
  else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
  if (node.maybeCommit()) {
    node.reads.release(node.term);
    node.replication.broadcastAppend();
  } else if (wasPaused) {
    node.replication.sendAppend(m.from);
  }
  // Stream on while the window allows.
  while (node.replication.maybeSendAppend(m.from, false)) {
    /* keep sending */
  }
  if (m.from === node.leadTransferee && pr.match === node.log.lastIndex()) {
    node.send(message({ type: 'timeout-now', to: m.from }));
  }
}

function onHeartbeatResponse(node: LeaderNode, m: Message, pr: Progress): void {
  pr.recentActive = true;
  pr.probeSent = false;
  if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
  if (pr.match < node.log.lastIndex()) node.replication.sendAppend(m.from);
  node.reads.onHeartbeatAck(m);
}

function leaderTransfer(node: LeaderNode, transferee: NodeId): void {
  if (!node.tracker.isVoter(transferee) || transferee === node.id) return;
  if (node.leadTransferee === transferee) return;
  node.leadTransferee = transferee;
  node.electionElapsed = 0;
  const pr = node.tracker.progress.get(transferee)!;
  if (pr.match === node.log.lastIndex()) node.send(message({ type: 'timeout-now', to: transferee }));
  else node.replication.sendAppend(transferee);
}
