import { DEFAULT_DISK_RATES, type DiskFaultRates } from './sim-fs.js';
import { DEFAULT_NETWORK_RATES, type NetworkRates } from './sim-network.js';

/**
 * Every fault the node simulator can inject, each switchable on its own. All but `lostTail`
 * are on by default (see DEFAULT_FAULTS). `lostTail`: a crash also loses the end of the newest
 * segment's fdatasynced data, back to a batch its persisted commit index covers (a disk whose
 * write cache lied about fdatasync), on a minority of the nodes like `bitflip`. The node must
 * see from its commit index that committed entries are gone, mark itself recovering, and get
 * them from the leader. A loss beyond the commit index no node can see (nor a correct one
 * survive on a majority), so the fault never cuts only there; and it stays off by default
 * because it models a disk that breaks its contract, there only to show the check catches a
 * node that ignores that signal.
 */
export type FaultKind =
  | 'drop'
  | 'duplicate'
  | 'delay'
  | 'partition'
  | 'oneWay'
  | 'crash'
  | 'powerLoss'
  | 'latency'
  | 'torn'
  | 'lostWrites'
  | 'eio'
  | 'enospc'
  | 'bitflip'
  | 'lostTail';

export const FAULT_KINDS: readonly FaultKind[] = [
  'drop',
  'duplicate',
  'delay',
  'partition',
  'oneWay',
  'crash',
  'powerLoss',
  'latency',
  'torn',
  'lostWrites',
  'eio',
  'enospc',
  'bitflip',
  'lostTail',
];

/**
 * The kinds a correct node survives, all on by default:
 * - `eio` (an fdatasync fails): the node stops, its process exits, and the simulator restarts
 *   it on the same disk a while later;
 * - `enospc` (writes fail while the disk is full): appends get DISK_FULL, and the node writes
 *   again by itself once space frees;
 * - `lostWrites` (a crash drops unsynced writes out of order, leaving a hole before data that
 *   survived): nothing in the hole or after it was acknowledged; a bad batch with intact data
 *   after it reads as damage, so the node marks itself recovering, cuts its log at the hole and
 *   catches up from its peers (cautious: a whole-cluster power cut that left holes on a
 *   majority would wait for an operator, which 2,000 seeds have not shown);
 * - `bitflip` (one bit of a durable file flips at a crash): the node finds the damage when it
 *   reads it (at open, or a read that meets it, which makes the next open scan) and repairs it
 *   from a peer (protocol-aware recovery), never serving it or counting it toward a quorum.
 *   What each file's damage does:
 *   - segment batches and headers: a cluster member marks itself recovering, cuts its log at
 *     the damage (a damaged header: from that segment's start) and the leader sends the rest;
 *   - index files and checkpoints carry checksums and are derived: rebuilt by a scan, or
 *     skipped for an older checkpoint or a full replay;
 *   - raft-state (term, vote, membership): the node cannot rebuild it alone (forgetting its
 *     vote could grant a second one in a term), so open fails with a CorruptLogError naming
 *     the file, for the operator to replace the node. The simulator models the operator keeping
 *     that node down for the rest of the run: the others must converge without it. Modelling
 *     it keeps a real failure in view (excluding raft-state would hide what a flip there does);
 *   - LOCK holds a pid, not data, and is never flipped (sim-fs.ts NOT_FLIPPED).
 *   Flips hit a minority of the nodes only, and a node whose disk flipped counts for the rest
 *   of the run (cluster.ts `flipped`): a flip on a majority's copies of one entry is a loss no
 *   replication survives, and damage in a sealed segment no read reaches stays on the disk.
 */
export const DEFAULT_FAULTS: ReadonlySet<FaultKind> = new Set<FaultKind>([
  'drop',
  'duplicate',
  'delay',
  'partition',
  'oneWay',
  'crash',
  'powerLoss',
  'latency',
  'torn',
  'eio',
  'enospc',
  'lostWrites',
  'bitflip',
]);

/** Parses `all`, `default`, or a list like `default,+eio,-powerLoss` or `drop,crash`. */
export function parseFaults(text: string): Set<FaultKind> {
  const result = new Set<FaultKind>();
  for (const raw of text.split(',')) {
    const word = raw.trim();
    if (word === '') continue;
    if (word === 'default') for (const k of DEFAULT_FAULTS) result.add(k);
    else if (word === 'all') for (const k of FAULT_KINDS) result.add(k);
    else if (word === 'none') result.clear();
    else {
      const sign = word[0] === '-' ? '-' : '+';
      const name = word.replace(/^[+-]/, '') as FaultKind;
      if (!FAULT_KINDS.includes(name))
        throw new Error(`unknown fault kind '${name}': expected one of ${FAULT_KINDS.join(', ')}`);
      if (sign === '-') result.delete(name);
      else result.add(name);
    }
  }
  return result;
}

/** How often the nemesis strikes and how long its faults last, virtual ms. */
export interface NemesisTiming {
  /** Pause between two nemesis actions: uniform in [min, max). */
  minGapMs: number;
  maxGapMs: number;
  /** How long a crashed node stays down, a partition holds. */
  minHoldMs: number;
  maxHoldMs: number;
  /** Share of nemesis actions that are a power loss of every node (when enabled). */
  powerLossShare: number;
}

export const DEFAULT_NEMESIS: NemesisTiming = {
  minGapMs: 60,
  maxGapMs: 300,
  minHoldMs: 40,
  maxHoldMs: 400,
  powerLossShare: 0.08,
};

export interface SimRates {
  disk: DiskFaultRates;
  network: NetworkRates;
  nemesis: NemesisTiming;
}

export const DEFAULT_RATES: SimRates = {
  disk: DEFAULT_DISK_RATES,
  network: DEFAULT_NETWORK_RATES,
  nemesis: DEFAULT_NEMESIS,
};
