import { isVisible, visibleRange, type VisibleRange } from '../engine/lifecycle.js';
import type { EngineState } from '../engine/state.js';
import { countAt } from '../engine/stream-state.js';

/** What a visibility check reads of an event (an `Event`, or a stored record's fields). */
export interface EventPlace {
  readonly stream: string;
  readonly index: number;
  readonly timestamp: number;
}

/**
 * Which committed events readers may see, as streams' metadata, deletions and tombstones say
 * (as of the high-water mark, at the node's clock). Every read path asks here, so a reader never
 * gets an event the metadata hides, whether or not scavenging has removed its bytes yet.
 */
export class Visibility {
  constructor(
    private readonly engine: EngineState,
    private readonly mark: () => number,
    private readonly clock: () => number,
  ) {}

  /** The part of `stream` visible now, or undefined when all of it is. */
  rangeOf(stream: string, mark = this.mark()): VisibleRange | undefined {
    const lifecycle = this.engine.lifecycles.at(stream, mark);
    if (!lifecycle) return undefined;
    return visibleRange(lifecycle, countAt(this.engine.streams.get(stream), mark), this.clock());
  }

  /** Whether `stream` is tombstoned as of the mark. */
  tombstoned(stream: string): boolean {
    return this.engine.lifecycles.at(stream, this.mark())?.tombstoned === true;
  }

  /**
   * A predicate for events read now; undefined when no stream has a lifecycle (the common
   * case costs nothing). Ranges are looked up once per stream per predicate.
   */
  predicate(): ((event: EventPlace) => boolean) | undefined {
    if (this.engine.lifecycles.size === 0) return undefined;
    const ranges = new Map<string, VisibleRange | null>();
    return (event) => {
      let range = ranges.get(event.stream);
      if (range === undefined) {
        // At the mark of the first look, not of the predicate's making: a predicate may outlive
        // a disk read, and the engine keeps no version older than the committed one.
        range = this.rangeOf(event.stream) ?? null;
        ranges.set(event.stream, range);
      }
      return range === null || isVisible(range, event.index, event.timestamp);
    };
  }
}
