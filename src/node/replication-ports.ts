import type { Entry, Message, NodeId, RaftStatus, RandomSource } from '../raft/index.js';
import type { FileSystem } from '../storage/file-system.js';
import type { EngineState } from '../engine/state.js';
import type { IdWindowLimits } from '../engine/id-window.js';
import type { Timers } from './environment.js';
import type { SnapshotFrame } from './snapshot-transfer.js';

/** Sends Raft messages and snapshot chunks to peers; `deliver` is how theirs come in. */
export interface PeerTransport {
  send(messages: readonly Message[]): void;
  sendSnapshotFrame(frame: SnapshotFrame): void;
  close(): Promise<void>;
  /**
   * Where the members are (`host:port`), as the membership in force names them: told at start
   * and whenever it changes, so the transport reaches a new member without a restart.
   */
  learnAddresses?(addresses: Readonly<Record<NodeId, string>>): void;
  /** Addresses known otherwise (a list of peers), for members the membership names none for yet. */
  knownAddresses?(): Readonly<Record<NodeId, string>>;
}

/** What happened to a snapshot, for logs: offered to a follower, installed here, or given up. */
export type SnapshotEvent =
  | { kind: 'offered'; peer: NodeId; index: number }
  | {
      kind: 'installed';
      peer: NodeId;
      index: number;
      entries: number;
      bytes: number;
      ms: number;
      /** The position of the checkpoint that replaced this node's log, when the peer sent one. */
      checkpoint?: number;
    }
  | { kind: 'failed'; peer: NodeId; index: number; reason: string };

/** What the log does as entries move through Raft (the replicator knows batches, not events). */
export interface ReplicatorHooks {
  /** An entry entered this node's log (written or about to be): its events, if any, are at `first..last`. */
  appended(entry: Entry, bytes: Buffer, first: number, last: number): void;
  /** Entries from `index` on were replaced by a new leader's; the log now ends after `lastPosition`. */
  truncated(index: number, lastPosition: number): void;
  /**
   * The whole log was replaced by one that starts after entry `index` (a peer's checkpoint,
   * installed): the engine takes `state`, the log's state up to `position`, all committed.
   */
  restarted(state: EngineState, index: number, position: number): void;
  /** Entry `index` of `term` is committed; the log is committed up to `lastPosition`. */
  committed(index: number, term: number, lastPosition: number): void;
  /** This node's role or known leader changed. */
  roleChanged(status: RaftStatus): void;
  /** A snapshot was offered, installed or given up (see SnapshotEvent). */
  snapshot?(event: SnapshotEvent): void;
}

/** How a replicator runs: its node id, Raft's timing, the window it keeps, and its environment. */
export interface ReplicatorOptions {
  id: NodeId;
  /** Milliseconds per Raft tick: elections time out after 10–20 ticks, heartbeats every tick. */
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Applied entries kept in memory for followers that fall behind; one further behind gets a snapshot. */
  windowEntries: number;
  random: RandomSource;
  timers: Timers;
  /** Milliseconds from an arbitrary origin, for durations. */
  monotonicNow: () => number;
  /** Where the Raft state file and snapshot staging files are written. */
  fs: FileSystem;
  /** The engine's id window, for checkpoints pulled from a peer. */
  idWindow: IdWindowLimits;
}
