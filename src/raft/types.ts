/**
 * The words of the Raft state machine (etcd-io/raft's shape). Everything here is plain data:
 * the state machine takes messages and ticks in, and hands entries, hard state and messages
 * out through `ready()`, so the same code runs in a real node and in the simulator.
 */

/** A node's name in the cluster (`n1`, `n2`, …). */
export type NodeId = string;

/** "No node": no vote cast, no leader known. */
export const NONE: NodeId = '';

/**
 * `normal` carries the application's bytes (for Ordo, one batch of events; an empty one is the
 * no-op a new leader appends), `config` a membership change (see config-change.ts).
 */
export type EntryKind = 'normal' | 'config';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** What must be on disk before any message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  /**
   * Set when this node lost entries it had persisted (damage, or a commit index beyond its
   * log): why. While set it grants no votes and never campaigns, since it may have acknowledged
   * entries it no longer holds and could help elect a leader without them. Cleared once a
   * leader elected without it has brought its commit index to that leader's commit index as of
   * their first contact. Absent on a node that lost nothing.
   */
  readonly recovering?: string;
}

/** Who votes and who only follows. A learner receives the log but neither votes nor counts for commit. */
export interface ConfigState {
  /** The voters; while joint, the incoming ones. */
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /**
   * Present (non-empty) only in a joint configuration: the voters before the change, which
   * must also form a majority for every election and commit until the joint config is left.
   */
  readonly votersOutgoing?: readonly NodeId[];
  /**
   * Where each member's peers reach it (`host:port`), as named when it was added. Entries
   * written before addresses travelled in the config have none.
   */
  readonly addresses?: Readonly<Record<NodeId, string>>;
}

/** The state machine as of `index`, plus the membership at that point. */
export interface Snapshot {
  readonly index: number;
  readonly term: number;
  readonly config: ConfigState;
  readonly data: Uint8Array;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Volatile state that is useful to show but need not be persisted. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

export type MessageType =
  // local messages (term 0): never sent over the network
  | 'hup' // start an election
  | 'beat' // leader: send heartbeats
  | 'check-quorum' // leader: step down unless a quorum was heard from recently
  | 'propose'
  | 'unreachable' // the transport could not reach `from`
  | 'snapshot-status' // the transport finished (or failed) sending a snapshot to `from`
  // messages between nodes
  | 'append'
  | 'append-response'
  | 'vote'
  | 'vote-response'
  | 'pre-vote'
  | 'pre-vote-response'
  | 'snapshot'
  | 'heartbeat'
  | 'heartbeat-response'
  | 'transfer-leader'
  | 'timeout-now'
  | 'read-index'
  | 'read-index-response';

/**
 * One message. Fields not used by a type keep their zero values (as etcd's raftpb.Message):
 * `index`/`logTerm` name the entry before `entries` (append) or the sender's last entry (votes);
 * on responses `index` is the last index the follower has, or the rejected one.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: readonly Entry[];
  commit: number;
  reject: boolean;
  /** On a rejected append: the follower's guess of where the logs agree (fast backtracking). */
  rejectHint: number;
  snapshot?: Snapshot;
  /** ReadIndex request id (0 = none), echoed in heartbeats and their responses. */
  context: number;
  /** A vote asked for by a leadership transfer: it may interrupt a leader's lease. */
  transfer: boolean;
}

/**
 * A frame of a snapshot transfer between two nodes (node/snapshot-transfer.ts): the follower's
 * read of the next chunk and the leader's answer. Beside `Message` because peers carry both.
 */
export type SnapshotFrame =
  | {
      type: 'snapshot-read';
      from: NodeId;
      to: NodeId;
      /** The snapshot's entry, and the first entry wanted. */
      snapshotIndex: number;
      fromIndex: number;
      /** Position of the first event of entry `fromIndex` (lets the sender's sparse index skip ahead). */
      positionHint: number;
      /** Set to read on in the checkpoint file the sender answered the first read with. */
      checkpoint?: CheckpointRead;
    }
  | {
      type: 'snapshot-data';
      from: NodeId;
      to: NodeId;
      snapshotIndex: number;
      fromIndex: number;
      /** Whole stored batches `fromIndex..`, as on the sender's disk; empty with an error. */
      bytes: Uint8Array;
      /** Empty when the sender served the read; otherwise why not. */
      error: string;
      /** Set when `bytes` are part of a checkpoint file: the sender no longer has entry `fromIndex`. */
      checkpoint?: CheckpointChunk;
    };

/** Which bytes of a checkpoint file a snapshot read asks for. */
export interface CheckpointRead {
  /** The checkpoint's position (its file's name). */
  position: number;
  /** Byte offset in the file. */
  offset: number;
}

/**
 * A piece of the engine checkpoint a node sends in place of history it no longer has: the
 * checkpoint describes the log up to `position`, the end of entry `index` of `term`.
 */
export interface CheckpointChunk extends CheckpointRead {
  index: number;
  term: number;
  /** Bytes of the whole file. */
  size: number;
}

export function message(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    from: NONE,
    to: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: EMPTY_ENTRIES,
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: 0,
    transfer: false,
    ...fields,
  };
}

export const EMPTY_ENTRIES: readonly Entry[] = Object.freeze([]);
export const EMPTY_DATA = new Uint8Array(0);

/** The answer to a ReadIndex request: reads at `index` are linearizable once it is applied. */
export interface ReadState {
  readonly index: number;
  readonly context: number;
}

export function isLocalMessage(type: MessageType): boolean {
  return (
    type === 'hup' ||
    type === 'beat' ||
    type === 'check-quorum' ||
    type === 'propose' ||
    type === 'unreachable' ||
    type === 'snapshot-status'
  );
}
