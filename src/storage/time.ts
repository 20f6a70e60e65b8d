/**
 * The storage's time, injectable so that a simulator can run the real log on virtual time: the
 * fsync `interval` policy's schedule and the measured fdatasync durations.
 */

/** Milliseconds, as `Date.now` or `performance.now` give them. */
export type Clock = () => number;

/** Repeating timers, as the fsync `interval` policy uses them. */
export interface IntervalTimers {
  /** Calls `callback` every `ms` milliseconds without keeping the process alive for it. */
  setInterval(callback: () => void, ms: number): unknown;
  /** Stops a timer `setInterval` returned. */
  clearInterval(timer: unknown): void;
}

/** Wall-clock time. */
export const systemClock: Clock = Date.now;

/** Monotonic time, for durations (bound: node's `performance.now` checks its receiver). */
export const monotonicClock: Clock = performance.now.bind(performance);

export const realTimers: IntervalTimers = {
  setInterval: (callback, ms) => setInterval(callback, ms).unref(),
  clearInterval: (timer) => clearInterval(timer as NodeJS.Timeout),
};
