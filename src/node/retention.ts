import { InvalidArgumentError, describe } from '../types/errors.js';
import type { SegmentedLog } from '../storage/segmented-log.js';
import type { Segment } from '../storage/segment.js';
import type { Timers } from './environment.js';

/** Whole-log retention, as `OpenOptions.retention` takes it. */
export interface RetentionOptions {
  /** Segments whose newest event is older than this many milliseconds go. */
  maxAge?: number | undefined;
  /** The oldest segments go while the log holds more than this many bytes. */
  maxBytes?: number | undefined;
  /** How often the policy is checked, milliseconds. Default a minute. */
  checkIntervalMs?: number | undefined;
}

export interface RetentionSettings {
  maxAge: number | undefined;
  maxBytes: number | undefined;
  checkIntervalMs: number;
}

export const DEFAULT_RETENTION_CHECK_INTERVAL_MS = 60_000;

/** What retention did so far, for /metrics. */
export interface RetentionStats {
  droppedSegments: number;
  droppedBytes: number;
}

/** What retention needs from its node. */
export interface RetentionPorts {
  readonly storage: SegmentedLog;
  readonly timers: Timers;
  clock(): number;
  /** The high-water mark: nothing uncommitted is ever dropped. */
  committed(): number;
  /**
   * The newest position a reopen is sure to find a checkpoint for (the older of the two kept,
   * so one damaged checkpoint still leaves one), or undefined while there is none.
   */
  checkpointFloor(): Promise<number | undefined>;
  /** The log now starts at `firstPosition`: what the engine keeps of what went can go. */
  dropped(firstPosition: number): void;
}

export function resolveRetention(retention: unknown): RetentionSettings | undefined {
  if (retention === undefined || retention === false) return undefined;
  if (typeof retention !== 'object' || retention === null || Array.isArray(retention))
    throw new InvalidArgumentError(
      `invalid option retention ${describe(retention)}: expected { maxAge?, maxBytes?, checkIntervalMs? }`,
    );
  const given = retention as RetentionOptions;
  const maxAge = optionalInteger('retention.maxAge', given.maxAge, 1);
  const maxBytes = optionalInteger('retention.maxBytes', given.maxBytes, 1);
  if (maxAge === undefined && maxBytes === undefined)
    throw new InvalidArgumentError(
      `invalid option retention ${describe(retention)}: expected maxAge (milliseconds) or maxBytes, or both`,
    );
  const interval = optionalInteger('retention.checkIntervalMs', given.checkIntervalMs, 1);
  return { maxAge, maxBytes, checkIntervalMs: interval ?? DEFAULT_RETENTION_CHECK_INTERVAL_MS };
}

function optionalInteger(name: string, value: unknown, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min) return value;
  throw new InvalidArgumentError(`invalid option ${name} ${describe(value)}: expected an integer >= ${min}`);
}

/**
 * Kafka-style retention of the whole log: the oldest sealed segments are removed once they are
 * older than `maxAge` or the log is larger than `maxBytes`. Whole segments only, never the
 * active one, never anything uncommitted or not yet covered by a checkpoint a reopen can load;
 * positions never change. Readers of what went get `PositionTrimmedError`. In a cluster each
 * node applies it to its own log; a member that needs entries a peer removed gets that peer's
 * checkpoint instead (snapshot-serve.ts).
 */
export class Retention {
  readonly stats: RetentionStats = { droppedSegments: 0, droppedBytes: 0 };
  /**
   * Why the last check failed (a write of the log start, a damaged segment): the next check
   * tries again; what was dropped before stays dropped, and nothing is dropped unsaved.
   */
  lastError: Error | undefined;
  private timer: unknown;
  private running: Promise<RetentionStats> | undefined;

  constructor(
    private readonly settings: RetentionSettings,
    private readonly ports: RetentionPorts,
  ) {}

  start(): void {
    this.timer = this.ports.timers.setInterval(
      () => void this.check().catch(() => undefined),
      this.settings.checkIntervalMs,
    );
  }

  /** Stops the timer and waits for a check in progress. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) this.ports.timers.clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Applies the policy once (also what the timer does); resolves with what it removed. */
  check(): Promise<RetentionStats> {
    const run =
      this.running ??
      this.apply()
        .then(
          (stats) => ((this.lastError = undefined), stats),
          (error: unknown) => {
            this.lastError = error as Error;
            throw error;
          },
        )
        .finally(() => (this.running = undefined));
    this.running = run;
    return run;
  }

  private async apply(): Promise<RetentionStats> {
    const floor = await this.ports.checkpointFloor();
    if (floor === undefined) return { droppedSegments: 0, droppedBytes: 0 };
    const bound = Math.min(floor, this.ports.committed());
    const through = await this.droppableThrough(bound);
    if (through === undefined) return { droppedSegments: 0, droppedBytes: 0 };
    const dropped = await this.ports.storage.dropSealedThrough(through);
    if (dropped.segments > 0) this.ports.dropped(this.ports.storage.firstPosition);
    this.stats.droppedSegments += dropped.segments;
    this.stats.droppedBytes += dropped.bytes;
    return { droppedSegments: dropped.segments, droppedBytes: dropped.bytes };
  }

  /** The last position of the newest segment the policy removes (a prefix of the sealed ones). */
  private async droppableThrough(bound: number): Promise<number | undefined> {
    const { storage } = this.ports;
    const sealed = storage.sealedSegments();
    let total = storage.describeSegments().reduce((sum, segment) => sum + segment.bytes, 0);
    let through: number | undefined;
    for (const segment of sealed) {
      if (segment.lastPosition > bound) break;
      const tooBig = this.settings.maxBytes !== undefined && total > this.settings.maxBytes;
      if (!tooBig && !(await this.tooOld(segment))) break;
      through = segment.lastPosition;
      total -= segment.size;
    }
    return through;
  }

  private async tooOld(segment: Segment): Promise<boolean> {
    const { maxAge } = this.settings;
    if (maxAge === undefined) return false;
    const [newest] = await this.ports.storage.read(
      segment.lastPosition,
      segment.lastPosition,
      1,
      (_bytes, _offset, _position, batch) => batch.timestamp,
    );
    return newest !== undefined && newest < this.ports.clock() - maxAge;
  }
}
