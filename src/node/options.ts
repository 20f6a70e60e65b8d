import { randomFillSync, randomUUID } from 'node:crypto';
import { InvalidArgumentError, describe } from '../types/errors.js';
import { DEFAULT_MAX_EVENT_BYTES } from '../types/validate.js';
import { DEFAULT_ID_WINDOW, type IdWindowLimits } from '../engine/id-window.js';
import {
  DEFAULT_INDEX_INTERVAL_BYTES,
  DEFAULT_MAX_OPEN_FILES,
  DEFAULT_SEGMENT_BYTES,
} from '../storage/segmented-log.js';
import { parseFsyncPolicy, type FsyncPolicy, type FsyncPolicyText } from '../storage/fsync-policy.js';

export interface OpenOptions {
  /** Default `'always'`: an append is acknowledged only after the fdatasync that covers it. */
  fsync?: FsyncPolicyText;
  /** Segment files roll at this size. Default 64 MiB. */
  segmentBytes?: number;
  /** Largest event (data + metadata + type). Default 1 MiB. */
  maxEventBytes?: number;
  /** Idempotency window for `expected: 'any'`. Default 100,000 ids and 2 minutes. */
  idWindow?: Partial<IdWindowLimits>;
  /**
   * Write an index checkpoint every this many events (or every quarter of the log, when that
   * is more), so a reopen after a crash replays at most that many. Default 1,000,000.
   */
  checkpointEvery?: number;
  /** A subscriber further than this many events behind the live tail is moved back to reading from disk. Default 100,000. */
  subscriberMaxLag?: number;
  /** Read file handles kept open at most. Default 32. */
  maxOpenFiles?: number;
  /** Milliseconds since the epoch, for event timestamps. Injected for tests. */
  clock?: () => number;
  /** Fills bytes with randomness, for the ids of events appended without one. Injected for tests. */
  randomFill?: (target: Uint8Array) => void;
}

export interface ResolvedOptions {
  fsync: FsyncPolicy;
  segmentBytes: number;
  indexIntervalBytes: number;
  maxEventBytes: number;
  idWindow: IdWindowLimits;
  checkpointEvery: number;
  subscriberMaxLag: number;
  maxOpenFiles: number;
  clock: () => number;
  randomFill: (target: Uint8Array) => void;
  /** Ids of transient events published without one. */
  newId: () => string;
}

export function resolveOptions(options: OpenOptions = {}): ResolvedOptions {
  return {
    fsync: parseFsyncPolicy(options.fsync ?? 'always'),
    segmentBytes: positiveInteger('segmentBytes', options.segmentBytes, DEFAULT_SEGMENT_BYTES, 4096),
    indexIntervalBytes: DEFAULT_INDEX_INTERVAL_BYTES,
    maxEventBytes: positiveInteger('maxEventBytes', options.maxEventBytes, DEFAULT_MAX_EVENT_BYTES, 1),
    idWindow: {
      maxCount: positiveInteger('idWindow.maxCount', options.idWindow?.maxCount, DEFAULT_ID_WINDOW.maxCount, 0),
      maxAgeMs: positiveInteger('idWindow.maxAgeMs', options.idWindow?.maxAgeMs, DEFAULT_ID_WINDOW.maxAgeMs, 0),
    },
    checkpointEvery: positiveInteger('checkpointEvery', options.checkpointEvery, 1_000_000, 1),
    subscriberMaxLag: positiveInteger('subscriberMaxLag', options.subscriberMaxLag, 100_000, 1),
    maxOpenFiles: positiveInteger('maxOpenFiles', options.maxOpenFiles, DEFAULT_MAX_OPEN_FILES, 1),
    clock: options.clock ?? Date.now,
    randomFill: options.randomFill ?? randomFillSync,
    newId: randomUUID,
  };
}

function positiveInteger(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min) return value;
  throw new InvalidArgumentError(`invalid option ${name} ${describe(value)}: expected an integer >= ${min}`);
}
