import type { StreamMetadata } from '../types/stream-metadata.js';
import { invariantFailed } from './assert.js';

/** A change to a stream's lifecycle: one event of its metadata stream. */
export type LifecycleChange =
  | { readonly kind: 'metadata'; readonly metadata: StreamMetadata }
  /** Soft delete: hides every event appended so far; the stream may be written again. */
  | { readonly kind: 'delete' }
  /** Hard delete: hides every event and refuses every later append; `erase` also removes their bytes now. */
  | { readonly kind: 'tombstone'; readonly erase?: boolean }
  /**
   * A scavenge point: indexes below `before` are gone for good, whatever the metadata says
   * later, so every node may remove their bytes and all of them keep serving the same events.
   */
  | { readonly kind: 'gone'; readonly before: number };

/** A stream's lifecycle as one metadata-stream event left it. */
export interface Lifecycle {
  /** Position of the metadata-stream event that made this version. */
  readonly position: number;
  readonly metadata: StreamMetadata;
  readonly tombstoned: boolean;
  /**
   * Indexes below it are gone for good (a scavenge point or a tombstone said so): hidden even if
   * the metadata changes later, and scavenging may remove their bytes. Never decreases.
   */
  readonly goneBefore: number;
  /** Tombstoned by an erasure: every node removes the stream's event bytes as soon as it commits. */
  readonly erased: boolean;
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
  /** Streams whose gone floor a scavenge point raised, not yet settled. */
  private readonly pendingGone = new Set<string>();

  /**
   * Position of the newest scavenge point applied (-1: none); a truncation may take it back,
   * which only costs a pass that finds nothing new.
   */
  lastScavengePoint = -1;

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
    if (change.kind === 'gone') {
      this.lastScavengePoint = Math.max(this.lastScavengePoint, position);
      this.pendingGone.add(stream);
    }
    const newlyErased = version.erased && previous?.erased !== true;
    if (version.tombstoned && (previous?.tombstoned !== true || newlyErased)) this.pendingTombstones.add(stream);
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
   * Returns the streams whose tombstone settled now (none can be written again), and those
   * whose gone floor did (nothing below it is read again).
   */
  settle(position: number): SettledLifecycles {
    this.settledUpTo = Math.max(this.settledUpTo, position);
    const tombstoned: string[] = [];
    for (const stream of this.pendingTombstones) {
      if (this.at(stream, position)?.tombstoned !== true) continue;
      tombstoned.push(stream);
      this.pendingTombstones.delete(stream);
    }
    const gone: Array<[string, number]> = [];
    for (const stream of this.pendingGone) {
      const version = this.latest(stream);
      if (version !== undefined && version.position > position) continue;
      // A truncation took the change back (no version left), or it settled.
      if (version !== undefined) gone.push([stream, version.goneBefore]);
      this.pendingGone.delete(stream);
    }
    for (const stream of this.unsettled) {
      const versions = this.byStream.get(stream)!;
      let keep = 0;
      while (keep + 1 < versions.length && versions[keep + 1]!.position <= position) keep++;
      if (keep > 0) versions.splice(0, keep);
      if (versions.length === 1) this.unsettled.delete(stream);
    }
    return { tombstoned, gone };
  }

  /**
   * The position of the newest change as of `mark` that left a stream with events gone for good
   * (or a later change of such a stream): while it stays the same, nothing new is gone; -1
   * while nothing is gone anywhere.
   */
  goneStamp(mark: number): number {
    let stamp = -1;
    for (const stream of this.byStream.keys()) {
      const version = this.at(stream, mark);
      if (version && version.goneBefore > 0) stamp = Math.max(stamp, version.position);
    }
    return stamp;
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
  const kept: Lifecycle = previous ?? { position, metadata: {}, tombstoned: false, goneBefore: 0, erased: false };
  switch (change.kind) {
    case 'metadata':
      return { ...kept, position, metadata: change.metadata };
    case 'delete': {
      const truncateBefore = Math.max(kept.metadata.truncateBefore ?? 0, count);
      return { ...kept, position, metadata: { ...kept.metadata, truncateBefore } };
    }
    case 'tombstone':
      return { ...kept, position, tombstoned: true, goneBefore: GONE_FOR_GOOD, erased: change.erase === true };
    case 'gone':
      return { ...kept, position, goneBefore: Math.max(kept.goneBefore, change.before) };
  }
}

/** What a settle made final: tombstones, and gone floors (stream, floor). */
export interface SettledLifecycles {
  readonly tombstoned: string[];
  readonly gone: ReadonlyArray<readonly [string, number]>;
}

/** A tombstoned stream's `goneBefore`: every index, however many were written. */
export const GONE_FOR_GOOD = Number.MAX_SAFE_INTEGER;

/**
 * What a reader at `now` may see of a stream of `count` events: a tombstone hides all of it;
 * `truncateBefore` and `maxCount` hide indexes below a bound, `maxAge` older timestamps.
 */
export function visibleRange(lifecycle: Lifecycle, count: number, now: number): VisibleRange {
  if (lifecycle.tombstoned) return { firstIndex: Number.MAX_SAFE_INTEGER, minTimestamp: Number.POSITIVE_INFINITY };
  const { truncateBefore, maxCount, maxAge } = lifecycle.metadata;
  const byMetadata = Math.max(truncateBefore ?? 0, maxCount === undefined ? 0 : count - maxCount);
  const firstIndex = Math.max(byMetadata, lifecycle.goneBefore);
  const minTimestamp = maxAge === undefined ? Number.NEGATIVE_INFINITY : now - maxAge;
  return { firstIndex, minTimestamp };
}

export function isVisible(range: VisibleRange, index: number, timestamp: number): boolean {
  return index >= range.firstIndex && timestamp >= range.minTimestamp;
}
