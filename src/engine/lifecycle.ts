import type { StreamMetadata } from '../types/stream-metadata.js';
import { invariantFailed } from './assert.js';

/** A change to a stream's lifecycle: one event of its metadata stream. */
export type LifecycleChange =
  | { readonly kind: 'metadata'; readonly metadata: StreamMetadata }
  /** Soft delete: hides every event appended so far; the stream may be written again. */
  | { readonly kind: 'delete' }
  /** Hard delete: hides every event and refuses every later append. */
  | { readonly kind: 'tombstone' };

/** A stream's lifecycle as one metadata-stream event left it. */
export interface Lifecycle {
  /** Position of the metadata-stream event that made this version. */
  readonly position: number;
  readonly metadata: StreamMetadata;
  readonly tombstoned: boolean;
}

/** What a reader may see of a stream: indexes from `firstIndex` on, timestamps from `minTimestamp` on. */
export interface VisibleRange {
  readonly firstIndex: number;
  readonly minTimestamp: number;
}

/**
 * Every stream's lifecycle, with the versions a truncation may still take back: per stream,
 * versions ascend by position and the first is the newest one at or below the settled
 * position (or a later one). A reader asks for the version as of its high-water mark, so an
 * uncommitted change is never seen before it commits.
 */
export class Lifecycles {
  private readonly byStream = new Map<string, Lifecycle[]>();
  /** Streams holding more than one version: the only ones `settle` has to trim. */
  private readonly unsettled = new Set<string>();
  /** The last settled position: versions older than the newest one at or below it are gone. */
  private settledUpTo = -1;
  /** Streams tombstoned by a change not yet settled (a truncation may still take it back). */
  private readonly pendingTombstones = new Set<string>();

  /** Streams that have a lifecycle (0: every event of every stream is visible). */
  get size(): number {
    return this.byStream.size;
  }

  /** Applies `change`, made at `position` to a stream whose count is then `count`. */
  apply(stream: string, change: LifecycleChange, position: number, count: number): void {
    const versions = this.byStream.get(stream);
    const previous = versions?.[versions.length - 1];
    if (previous && previous.position >= position)
      invariantFailed(`lifecycle of ${stream} at position ${position}, after one at ${previous.position}`);
    const version = nextVersion(previous, change, position, count);
    if (version.tombstoned && !previous?.tombstoned) this.pendingTombstones.add(stream);
    if (!versions) {
      this.byStream.set(stream, [version]);
      return;
    }
    versions.push(version);
    this.unsettled.add(stream);
  }

  /** The newest version at or below `mark`, which must not be below the settled position. */
  at(stream: string, mark: number): Lifecycle | undefined {
    if (mark < this.settledUpTo)
      invariantFailed(`lifecycle of ${stream} asked as of ${mark}, below the settled position ${this.settledUpTo}`);
    const versions = this.byStream.get(stream);
    if (!versions) return undefined;
    for (let i = versions.length - 1; i >= 0; i--) if (versions[i]!.position <= mark) return versions[i];
    return undefined;
  }

  /** The newest version, committed or not (what the next append is decided against). */
  latest(stream: string): Lifecycle | undefined {
    const versions = this.byStream.get(stream);
    return versions?.[versions.length - 1];
  }

  /** Forgets every version made beyond `position` (the log was truncated under it). */
  truncateAfter(position: number): void {
    if (position < this.settledUpTo)
      invariantFailed(`lifecycles truncated after ${position}, below the settled position ${this.settledUpTo}`);
    for (const [stream, versions] of this.byStream) {
      while (versions.length > 0 && versions[versions.length - 1]!.position > position) versions.pop();
      if (versions.length === 0) this.byStream.delete(stream);
      if (versions.length <= 1) this.unsettled.delete(stream);
    }
    for (const stream of this.pendingTombstones)
      if (this.latest(stream)?.tombstoned !== true) this.pendingTombstones.delete(stream);
  }

  /**
   * Everything up to `position` is committed: versions older than the newest settled one go.
   * Returns the streams whose tombstone settled now (none can be written again).
   */
  settle(position: number): string[] {
    this.settledUpTo = Math.max(this.settledUpTo, position);
    const tombstoned: string[] = [];
    for (const stream of this.pendingTombstones) {
      if (this.at(stream, position)?.tombstoned !== true) continue;
      tombstoned.push(stream);
      this.pendingTombstones.delete(stream);
    }
    for (const stream of this.unsettled) {
      const versions = this.byStream.get(stream)!;
      let keep = 0;
      while (keep + 1 < versions.length && versions[keep + 1]!.position <= position) keep++;
      if (keep > 0) versions.splice(0, keep);
      if (versions.length === 1) this.unsettled.delete(stream);
    }
    return tombstoned;
  }

  /** Every stream's version as of `mark` (for a checkpoint). */
  entriesAt(mark: number): Array<[string, Lifecycle]> {
    const entries: Array<[string, Lifecycle]> = [];
    for (const stream of this.byStream.keys()) {
      const version = this.at(stream, mark);
      if (version) entries.push([stream, version]);
    }
    return entries;
  }

  /** Loads settled versions (from a checkpoint) into an empty table. */
  load(entries: ReadonlyArray<[string, Lifecycle]>): void {
    if (this.byStream.size > 0) invariantFailed('lifecycles loaded into a table that is not empty');
    for (const [stream, version] of entries) this.byStream.set(stream, [version]);
  }
}

function nextVersion(
  previous: Lifecycle | undefined,
  change: LifecycleChange,
  position: number,
  count: number,
): Lifecycle {
  const metadata = previous?.metadata ?? {};
  const tombstoned = previous?.tombstoned ?? false;
  switch (change.kind) {
    case 'metadata':
      return { position, metadata: change.metadata, tombstoned };
    case 'delete':
      return {
        position,
        metadata: { ...metadata, truncateBefore: Math.max(metadata.truncateBefore ?? 0, count) },
        tombstoned,
      };
    case 'tombstone':
      return { position, metadata, tombstoned: true };
  }
}

/**
 * What a reader at `now` may see of a stream of `count` events: a tombstone hides all of it;
 * `truncateBefore` and `maxCount` hide indexes below a bound, `maxAge` older timestamps.
 */
export function visibleRange(lifecycle: Lifecycle, count: number, now: number): VisibleRange {
  if (lifecycle.tombstoned) return { firstIndex: Number.MAX_SAFE_INTEGER, minTimestamp: Number.POSITIVE_INFINITY };
  const { truncateBefore, maxCount, maxAge } = lifecycle.metadata;
  const firstIndex = Math.max(truncateBefore ?? 0, maxCount === undefined ? 0 : count - maxCount);
  const minTimestamp = maxAge === undefined ? Number.NEGATIVE_INFINITY : now - maxAge;
  return { firstIndex, minTimestamp };
}

export function isVisible(range: VisibleRange, index: number, timestamp: number): boolean {
  return index >= range.firstIndex && timestamp >= range.minTimestamp;
}
