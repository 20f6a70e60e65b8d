/**
 * In a cluster: `'linearizable'` (default) reads see every write acknowledged before the read
 * began (Raft ReadIndex: the leader confirms it still leads; a follower asks it, then waits
 * until it has applied that far). `'local'` reads what this node has committed so far, without
 * asking anyone: faster, possibly behind. On a single node both are the same.
 */
export type ReadConsistency = 'linearizable' | 'local';
