import { randomFillSync, randomInt, randomUUID } from 'node:crypto';
import type { RandomSource } from '../raft/index.js';

/** A pending timer: `unref` lets the process exit while it waits, `ref` makes it keep the process alive. */
export interface TimerHandle {
  ref(): unknown;
  unref(): unknown;
}

/** The timers the node uses (the simulator passes virtual ones). */
export interface Timers {
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: unknown): void;
  setInterval(callback: () => void, ms: number): TimerHandle;
  clearInterval(handle: unknown): void;
}

/**
 * Everything outside the node that a simulation replaces: wall time (event timestamps), a
 * monotonic clock (durations), timers, and randomness (Raft's election timeouts, generated
 * event ids). The defaults are the real ones; the disk and the peers' transport are injected
 * beside these (`OpenOptions.fileSystem`, `ClusterOptions.transport`).
 */
export interface NodeEnvironment {
  /** Milliseconds since the epoch, for event timestamps. */
  clock: () => number;
  /** Milliseconds from an arbitrary origin that never goes back, for durations. */
  monotonicNow: () => number;
  timers: Timers;
  /** Randomness for Raft (election timeouts). */
  random: RandomSource;
  /** Fills bytes with randomness, for the ids of events appended without one. */
  randomFill: (target: Uint8Array) => void;
  /** Ids of transient events published without one. */
  newId: () => string;
}

export const systemTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout | undefined),
};

/** Randomness from the OS for a real node (the simulator passes a seeded source instead). */
export const osRandom: RandomSource = { int: (bound) => randomInt(bound) };

/** The real world: the system clock, Node's timers and the OS's randomness. */
export function systemEnvironment(
  overrides: { [K in keyof NodeEnvironment]?: NodeEnvironment[K] | undefined } = {},
): NodeEnvironment {
  return {
    clock: overrides.clock ?? Date.now,
    monotonicNow: overrides.monotonicNow ?? (() => performance.now()),
    timers: overrides.timers ?? systemTimers,
    random: overrides.random ?? osRandom,
    randomFill: overrides.randomFill ?? randomFillSync,
    newId: overrides.newId ?? randomUUID,
  };
}
