import type { RandomSource } from './random.js';
import type { RaftStorage } from './storage.js';
import type { NodeId } from './types.js';

export interface RaftOptions {
  id: NodeId;
  storage: RaftStorage;
  random: RandomSource;
  /** Ticks without hearing from a leader before an election; randomized in [n, 2n). */
  electionTicks?: number;
  /** Ticks between a leader's heartbeats. Must be less than `electionTicks`. */
  heartbeatTicks?: number;
  /** Data bytes in one append message at most (one entry always fits). */
  maxMessageBytes?: number;
  /** Append messages in flight to one follower at most (flow control). */
  maxInflightMessages?: number;
  /** Data bytes of committed entries handed out by one ready() at most. */
  maxApplyBytes?: number;
  /** Ask for pre-votes before raising the term, so a partitioned node cannot disrupt the cluster. */
  preVote?: boolean;
  /** A leader steps down if it has not heard from a quorum within an election timeout. */
  checkQuorum?: boolean;
  /** Index the application has applied (restart); the snapshot's index by default. */
  applied?: number;
  /**
   * Test-only: break one rule, to show the simulator finds it. Never set in production: the
   * node's options and the CLI have no way to set it.
   */
  unsafe?: UnsafeRules | undefined;
  /**
   * Asynchronous storage writes (etcd's AsyncStorageWrites): `ready()` hands out entries to
   * write without waiting for the previous ones; the node reports each write with
   * `persisted(index, term)` once it is durable, and only then do they count (the leader's own
   * vote toward commit, and entries handed out as committed).
   */
  asyncStorageWrites?: boolean;
}

/** Test-only broken rules, each named for what it does wrong (see RaftOptions.unsafe). */
export interface UnsafeRules {
  /** Grant votes without Raft's up-to-date log check (§5.4.1). */
  voteWithoutLogCheck?: boolean;
  /**
   * Count every member's heartbeat ack toward the voters' majority that confirms a read point,
   * a learner's like a voter's.
   */
  readQuorumCountsLearners?: boolean;
  /**
   * Key the leader's pending read points by the asker's own context: two nodes' reads with the
   * same number collide (the later one is dropped, or confirmed by the other's round).
   */
  readsKeyedByAskerContext?: boolean;
  /**
   * Ignore a follower's rejection at or below the match recorded for it: a follower that lost
   * entries it had acknowledged is never sent them again.
   */
  ignoreRejectionBelowMatch?: boolean;
}

export const DEFAULT_ELECTION_TICKS = 10;
export const DEFAULT_HEARTBEAT_TICKS = 1;
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
export const DEFAULT_MAX_INFLIGHT_MESSAGES = 256;
export const DEFAULT_MAX_APPLY_BYTES = 64 * 1024 * 1024;
