import { DEFAULT_DISK_RATES, type DiskFaultRates } from './sim-fs.js';
import { DEFAULT_NETWORK_RATES, type NetworkRates } from './sim-network.js';

/** Every fault the node simulator can inject, each switchable on its own. */
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
  | 'bitflip';

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
];

/**
 * The kinds a correct node survives today, on by default. `eio` (an fdatasync fails: the node
 * stops, its process exits, and the simulator restarts it on the same disk a while later) and
 * `enospc` (writes fail while the disk is full: appends get DISK_FULL, and the node writes
 * again by itself once space frees) are among them. The others are written, and each
 * names what a correct node must do when it strikes, so they can be switched on
 * (`--faults +bitflip`) as the node learns to:
 * - `lostWrites` (a crash drops unsynced writes out of order, leaving a hole before data that
 *   survived): nothing in the hole or after it was acknowledged, so the node must reopen,
 *   cutting its log at the hole, and catch up from its peers; today it refuses to open
 *   (a bad batch with intact data after it reads as damage).
 * - `bitflip` (one bit of fsynced data flips): the node must find the damaged batch when it
 *   reads it (at open) and repair it from a peer that holds it (protocol-aware recovery),
 *   never serve it, and never count it toward a quorum.
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
