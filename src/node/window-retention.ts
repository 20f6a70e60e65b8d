import type { NodeId, RawNode } from '../raft/index.js';
import type { RaftWindow } from './raft-window.js';

/**
 * Entry data kept in memory for followers that fall behind, at most; past it (or past
 * `windowEntries` entries), a quarter of `windowEntries` applied entries stays.
 */
const WINDOW_BUDGET_BYTES = 256 * 1024 * 1024;

/**
 * Keeps in memory what Raft may still need: entries not yet applied, and a tail of applied
 * ones for followers that fall behind (also on followers: any node may become the leader).
 * A follower behind the window gets a snapshot.
 */
export function compactWindow(window: RaftWindow, raw: RawNode, self: NodeId, windowEntries: number): void {
  const applied = raw.applied;
  if (raw.voterCount === 1 && raw.learnerCount === 0) {
    // A cluster of one: nobody to send entries to.
    if (applied >= window.firstIndex()) window.compact(applied);
    return;
  }
  const overEntries = window.lastIndex() - window.firstIndex() + 1 > windowEntries;
  if (!overEntries && window.sizeBytes <= WINDOW_BUDGET_BYTES) return;
  let upTo = applied - Math.floor(windowEntries / 4);
  if (raw.role === 'leader' && window.sizeBytes <= WINDOW_BUDGET_BYTES) {
    // Keep what a live follower still needs, as long as the budget allows.
    let slowest = applied;
    raw.withProgress((id, pr) => {
      if (id !== self && pr.recentActive) slowest = Math.min(slowest, pr.match);
    });
    upTo = Math.min(upTo, slowest);
  }
  if (upTo >= window.firstIndex()) window.compact(upTo);
}
