import { visibleRange, type Lifecycle } from '../engine/lifecycle.js';
import type { EngineState, GoneFloors } from '../engine/state.js';
import { positionOf } from '../engine/state.js';
import { countAt } from '../engine/stream-state.js';

/** Events of one stream whose timestamps a scavenge point looks at, at most (the next point goes on). */
const MAX_AGE_LOOKUPS_PER_STREAM = 10_000;

/** What computing a scavenge point's floors needs. */
export interface FloorSources {
  readonly engine: EngineState;
  /** The committed position: floors are computed from committed state only. */
  readonly mark: number;
  /** Wall-clock milliseconds of the leader (what `maxAge` is measured against). */
  readonly now: number;
  /** The timestamp of the committed event at `position`. */
  timestampAt(position: number): Promise<number | undefined>;
}

/**
 * The floors a scavenge point sets: per stream with a lifecycle, the first index its metadata
 * shows now (`truncateBefore`, `maxCount`, a soft delete, and `maxAge` by reading the oldest
 * events' timestamps), where that is above what is already gone. Tombstoned streams are gone
 * already. Everything below a floor becomes gone for good once the point commits.
 */
export async function floorsToRaise(sources: FloorSources): Promise<GoneFloors> {
  const floors: Array<[string, number]> = [];
  for (const [stream, lifecycle] of sources.engine.lifecycles.entriesAt(sources.mark)) {
    if (lifecycle.tombstoned) continue;
    const floor = await visibleFloor(sources, stream, lifecycle);
    if (floor > lifecycle.goneBefore) floors.push([stream, floor]);
  }
  return floors;
}

async function visibleFloor(sources: FloorSources, stream: string, lifecycle: Lifecycle): Promise<number> {
  const count = countAt(sources.engine.streams.get(stream), sources.mark);
  const range = visibleRange(lifecycle, count, sources.now);
  let floor = Math.min(range.firstIndex, count);
  if (range.minTimestamp === Number.NEGATIVE_INFINITY) return floor;
  // Walk from the floor while events are too old: stop at the first one still visible.
  for (let looked = 0; floor < count && looked < MAX_AGE_LOOKUPS_PER_STREAM; looked++) {
    const position = positionOf(sources.engine, stream, floor);
    if (position === undefined) break;
    const timestamp = await sources.timestampAt(position);
    if (timestamp === undefined || timestamp >= range.minTimestamp) break;
    floor++;
  }
  return floor;
}
