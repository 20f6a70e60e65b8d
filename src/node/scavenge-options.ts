import { InvalidArgumentError, describe } from '../types/errors.js';

/** Scavenging, as `OpenOptions.scavenge` takes it (`false`: never in the background). */
export interface ScavengeOptions {
  /** How often the background scavenger looks for events gone since its last pass, milliseconds. */
  intervalMs?: number | undefined;
  /** Bytes per second scavenging reads and writes together, at most (on average over its run of I/O). */
  bytesPerSecond?: number | undefined;
}

export interface ScavengeSettings {
  /** Undefined: no background passes (`scavenge()` and erasures still run). */
  intervalMs: number | undefined;
  bytesPerSecond: number;
}

export const DEFAULT_SCAVENGE_INTERVAL_MS = 10 * 60_000;
export const DEFAULT_SCAVENGE_BYTES_PER_SECOND = 64 * 1024 * 1024;

export function resolveScavenge(scavenge: unknown): ScavengeSettings {
  if (scavenge === undefined)
    return { intervalMs: DEFAULT_SCAVENGE_INTERVAL_MS, bytesPerSecond: DEFAULT_SCAVENGE_BYTES_PER_SECOND };
  if (scavenge === false) return { intervalMs: undefined, bytesPerSecond: DEFAULT_SCAVENGE_BYTES_PER_SECOND };
  if (typeof scavenge !== 'object' || scavenge === null || Array.isArray(scavenge))
    throw new InvalidArgumentError(
      `invalid option scavenge ${describe(scavenge)}: expected false or { intervalMs?, bytesPerSecond? }`,
    );
  const given = scavenge as ScavengeOptions;
  return {
    intervalMs: positiveInteger('scavenge.intervalMs', given.intervalMs) ?? DEFAULT_SCAVENGE_INTERVAL_MS,
    bytesPerSecond:
      positiveInteger('scavenge.bytesPerSecond', given.bytesPerSecond) ?? DEFAULT_SCAVENGE_BYTES_PER_SECOND,
  };
}

function positiveInteger(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1) return value;
  throw new InvalidArgumentError(`invalid option ${name} ${describe(value)}: expected an integer >= 1`);
}
