/**
 * How often each fault strikes, per millisecond of virtual time (or per message). The
 * defaults turn every kind on at rates that give a few of each per 2,000-step run.
 */
export interface FaultRates {
  /** Per message: lost, delivered twice, held back (which reorders it). */
  drop: number;
  duplicate: number;
  delay: number;
  /** Longest extra delay of a held-back message, ms. */
  maxDelayMs: number;
  /** Per ms: crash a node (a quarter of crashes happen in the middle of a write). */
  crash: number;
  tornWrite: number;
  /**
   * Per ms: a node crashes and its disk loses its last few durable entries (damage found and
   * cut at open); it restarts marked recovering. At most one node recovers at a time (a
   * quorum of intact nodes is this fault model's bound, as a single fault per group is Raft's).
   */
  loseTail: number;
  /** Per ms: cut the network (split, one-way link, or the leader alone). */
  partition: number;
  /** Per ms: a membership change, a leadership transfer, a compaction on one node. */
  configChange: number;
  transfer: number;
  compact: number;
  /** Per ms: a client append, a ReadIndex read. */
  append: number;
  read: number;
}

export const DEFAULT_FAULTS: FaultRates = {
  drop: 0.03,
  duplicate: 0.02,
  delay: 0.05,
  maxDelayMs: 60,
  crash: 0.002,
  tornWrite: 0.25,
  loseTail: 0.001,
  partition: 0.002,
  configChange: 0.002,
  transfer: 0.001,
  compact: 0.004,
  append: 0.3,
  read: 0.02,
};

/** While the network is cut, each node that believes it leads is asked a read this often, ms. */
export const PARTITIONED_READ_INTERVAL_MS = 25;
/** Virtual time between two ticks of a node, ms: elections time out after 10–20 ticks. */
export const TICK_MS = 10;
/** One-way network delay of an undisturbed message, ms (uniform in [1, n]). */
export const BASE_DELAY_MS = 3;
/** After the faults stop: how long the cluster has to elect, commit and converge, ms. */
export const HEAL_BOUND_MS = 5_000;
/**
 * Healed, with a leader in place: how long a follower that lost entries has to get them back,
 * and a read to be answered, ms (both take a few round trips).
 */
export const STABLE_BOUND_MS = 1_000;
