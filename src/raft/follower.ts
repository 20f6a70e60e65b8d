import type { RaftLog } from './raft-log.js';
import type { ProgressTracker } from './tracker.js';
import { message, type ConfigState, type Message } from './types.js';

/**
 * A follower's side of replication: it takes what the leader of its term sends and answers
 * with how far its log now goes, and with its commit index (a leader that removed itself
 * waits for the new voters to know the removal is committed). Each function applies the
 * leader's message to the log and returns the answer for the caller to send.
 */

export function answerAppend(log: RaftLog, m: Message): Message {
  if (m.index < log.committed) {
    return message({ type: 'append-response', to: m.from, index: log.committed, commit: log.committed });
  }
  const lastNew = log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew !== undefined) {
    return message({ type: 'append-response', to: m.from, index: lastNew, commit: log.committed });
  }
  // Our log does not hold (m.index, m.logTerm): tell the leader where to look instead, so it
  // skips a whole term per round trip rather than one entry.
  const hint = log.findConflictByTerm(Math.min(m.index, log.lastIndex()), m.logTerm);
  return message({
    type: 'append-response',
    to: m.from,
    index: m.index,
    reject: true,
    rejectHint: hint.index,
    logTerm: hint.term,
  });
}

export function answerHeartbeat(log: RaftLog, m: Message): Message {
  // The leader sends min(our match, its commit), so this never commits what we lack.
  if (m.commit <= log.lastIndex()) log.commitTo(m.commit);
  return message({ type: 'heartbeat-response', to: m.from, context: m.context, commit: log.committed });
}

export function answerSnapshot(log: RaftLog, tracker: ProgressTracker, m: Message): Message {
  const snapshot = m.snapshot!;
  if (restore(log, tracker, snapshot)) {
    return message({ type: 'append-response', to: m.from, index: log.lastIndex() });
  } else {
    return message({ type: 'append-response', to: m.from, index: log.committed });
  }
}

/** Takes a leader's snapshot unless we already have its entries; true if taken. */
function restore(
  log: RaftLog,
  tracker: ProgressTracker,
  snapshot: { index: number; term: number; config: ConfigState; data: Uint8Array },
): boolean {
  if (snapshot.index <= log.committed) return false;
  if (log.matchTerm(snapshot.index, snapshot.term)) {
    // We have the entry: just fast-forward the commit.
    log.commitTo(snapshot.index);
    return false;
  }
  log.restore({ ...snapshot });
  tracker.setConfig(snapshot.config, log.lastIndex() + 1);
  return true;
}
