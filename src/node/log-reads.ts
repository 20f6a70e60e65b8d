import { InvalidArgumentError, PositionTrimmedError, TimeoutError, describe } from '../types/errors.js';
import type { Event, ReadAllOptions, ReadOptions, StreamInfo } from '../types/event.js';
import { validateFilter, validateIndex, validateLimit, validateStream } from '../types/validate.js';
import { positionOf, type EngineState } from '../engine/state.js';
import { countAt, firstIndexAfter, positionAt, type StreamState } from '../engine/stream-state.js';
import type { VisibleRange } from '../engine/lifecycle.js';
import type { SegmentedLog } from '../storage/segmented-log.js';
import { BufferedIterator } from './buffered-iterator.js';
import { decodeEvent } from './event-codec.js';
import { compileFilter } from './filter.js';
import type { Publisher } from './publisher.js';
import { rawCollector, type RawRecords } from './raw-records.js';
import type { Replicator } from './replicator.js';
import type { Timers } from './environment.js';
import type { Visibility } from './visibility.js';

/** How long a read with `minPosition` waits for this node to commit that far. */
const MIN_POSITION_TIMEOUT_MS = 10_000;
/** Events a stream-filtered catch-up takes from each stream per round. */
const STREAM_CATCH_UP_EVENTS = 1024;
/** Bytes a catch-up read takes from disk at once. */
export const CATCH_UP_CHUNK_BYTES = 1024 * 1024;
/** Events `read` fetches per disk round trip. */
const READ_BATCH_EVENTS = 256;
/** Positions at most this far apart are read from disk in one pass. */
const NEARBY_POSITIONS = 16;
/** Bytes one pass over nearby positions reads at once. */
const NEARBY_READ_BYTES = 64 * 1024;

/**
 * Reads of committed events: a stream through the engine's stream index, the whole log from
 * the segments, raw records for a server's catch-up, and the read point (ReadIndex) that
 * makes a read linearizable in a cluster. Nothing past the high-water mark is ever returned.
 */
export class LogReads {
  constructor(
    private readonly storage: SegmentedLog,
    private readonly engine: EngineState,
    private readonly publisher: Publisher,
    private readonly replicator: Replicator,
    private readonly timers: Timers,
    private readonly visibility: Visibility,
  ) {}

  private get mark(): number {
    return this.publisher.committedPosition;
  }

  /** Committed records from `from` on, as stored bytes (what a server sends to a reader of the whole log). */
  async readRaw(
    from: number | 'start',
    maxBytes: number,
    maxEvents: number,
    consistency: ReadAllOptions['consistency'] = 'linearizable',
  ): Promise<RawRecords> {
    await this.linearize('readAll', consistency);
    const start = from === 'start' ? this.firstPosition : from;
    this.requireRetained('readAll', start);
    const collector = rawCollector(start, maxEvents, this.visibility.predicate());
    if (start <= this.mark) await this.storage.read(start, this.mark, maxBytes, collector.decode);
    const result = collector.result();
    // Retention may have removed `start` while the read waited: say so rather than answer nothing.
    if (result.count === 0 && start <= this.mark) this.requireRetained('readAll', start);
    return result;
  }

  /**
   * Committed events with `from <= position <= to`, at most about `maxBytes` of them. Fails
   * with PositionTrimmedError when retention removed `from` (never an empty answer that would
   * read as the end of the log).
   */
  async readCommitted(from: number, to: number, maxBytes = CATCH_UP_CHUNK_BYTES, operation = 'read'): Promise<Event[]> {
    this.requireRetained(operation, from);
    const events = await this.storage.read(from, Math.min(to, this.mark), maxBytes, decodeEvent);
    // Retention may have removed `from` while the read waited: say so rather than answer nothing.
    if (events[0]?.position !== from && from <= Math.min(to, this.mark)) this.requireRetained(operation, from);
    return events;
  }

  /** The committed event at `position`; undefined if there is none, or retention removed it. */
  async eventAt(position: number): Promise<Event | undefined> {
    if (position < this.firstPosition) return undefined;
    const [event] = await this.readCommitted(position, position, 1);
    return event;
  }

  /** The oldest position still readable (retention removes whole segments from the front). */
  get firstPosition(): number {
    return this.storage.firstPosition;
  }

  private requireRetained(operation: string, from: number): void {
    const first = this.storage.firstPosition;
    if (from < first) throw new PositionTrimmedError(operation, from, first);
  }

  read(stream: string, options: ReadOptions, ensureOpen: () => void): AsyncIterable<Event> {
    const name = validateStream(stream, { internal: true });
    const limit = validateLimit(options.limit);
    const backwards = options.backwards === true;
    const from = options.from === undefined ? undefined : validateIndex(options.from, 'from');
    const reads = this;
    return {
      [Symbol.asyncIterator]() {
        let count: number | undefined;
        let index = 0;
        let remaining = limit;
        // Indexes below it, and events older than minTimestamp, are hidden by the stream's metadata.
        let range: VisibleRange = ALL_VISIBLE;
        return new BufferedIterator<Event>(async () => {
          if (count === undefined) {
            // The stream as of a linearizable read point (or what this node has, with 'local').
            await reads.awaitPosition('read', options.minPosition);
            await reads.linearize('read', options.consistency);
            const state = reads.engine.streams.get(name);
            count = countAt(state, reads.mark);
            range = withRetained(reads.visibility.rangeOf(name) ?? ALL_VISIBLE, state, count, reads.firstPosition);
            index = from ?? (backwards ? count - 1 : 0);
            if (backwards) index = Math.min(index, count - 1);
            else index = Math.max(index, range.firstIndex);
          }
          const low = Math.min(range.firstIndex, count);
          if (remaining <= 0 || index < low || index >= count) return undefined;
          ensureOpen();
          const take = Math.min(READ_BATCH_EVENTS, remaining, backwards ? index - low + 1 : count - index);
          const indexes = Array.from({ length: take }, (_, k) => (backwards ? index - k : index + k));
          index = backwards ? index - take : index + take;
          const events = await reads.readIndexes(name, indexes);
          const shown =
            range.minTimestamp === ALL_VISIBLE.minTimestamp
              ? events
              : events.filter((event) => event.timestamp >= range.minTimestamp);
          if (shown.length > remaining) shown.length = remaining;
          remaining -= shown.length;
          return shown;
        });
      },
    };
  }

  readAll(options: ReadAllOptions, ensureOpen: () => void): AsyncIterable<Event> {
    // No `from`: the start of what retention kept. A position is taken as given.
    const from = options.from === undefined ? undefined : validateIndex(options.from, 'from');
    const limit = validateLimit(options.limit);
    const matches = compileFilter(validateFilter(options.filter));
    const reads = this;
    return {
      [Symbol.asyncIterator]() {
        let end: number | undefined;
        let next = from ?? 0;
        let remaining = limit;
        return new BufferedIterator<Event>(async () => {
          if (end === undefined) {
            await reads.awaitPosition('readAll', options.minPosition);
            await reads.linearize('readAll', options.consistency);
            end = reads.mark;
            if (from === undefined) next = reads.firstPosition;
          }
          if (remaining <= 0 || next > end) return undefined;
          ensureOpen();
          const events = await reads.readCommitted(next, end, CATCH_UP_CHUNK_BYTES, 'readAll');
          if (events.length === 0) return undefined;
          next = events[events.length - 1]!.position + 1;
          const visible = reads.visibility.predicate();
          const passed =
            matches || visible ? events.filter((e) => (!matches || matches(e)) && (!visible || visible(e))) : events;
          if (passed.length > remaining) passed.length = remaining;
          remaining -= passed.length;
          return passed;
        });
      },
    };
  }

  /** The stream's committed count. */
  countOf(stream: string, upTo = this.mark): number {
    return countAt(this.engine.streams.get(stream), upTo);
  }

  streams(options: { prefix?: string; limit?: number }): AsyncIterable<StreamInfo> {
    const limit = validateLimit(options.limit);
    const prefix = options.prefix ?? '';
    const reads = this;
    return {
      async *[Symbol.asyncIterator]() {
        let remaining = limit;
        for (const [stream, state] of reads.engine.streams) {
          if (remaining <= 0) return;
          if (!stream.startsWith(prefix) || reads.visibility.tombstoned(stream)) continue;
          const count = countAt(state, reads.mark);
          if (count === 0) continue;
          yield { stream, count };
          remaining--;
        }
      },
    };
  }

  /**
   * Catch-up for a subscription to named streams: the engine knows each stream's positions, so
   * only their events are read, not the whole log. Returns the next events after `after` and
   * the position up to which the log is covered by them.
   */
  async readStreamsCommitted(
    streams: readonly string[],
    after: number,
    to: number,
  ): Promise<{ events: Event[]; coveredTo: number }> {
    const mark = Math.min(to, this.mark);
    this.requireRetained('subscribe', after + 1);
    // Each stream gives at most STREAM_CATCH_UP_EVENTS of its next events. A stream cut short
    // by that cap is complete only up to the last one it gave, so the round covers the log up
    // to the smallest such position (or the mark, when no stream was cut short).
    let coveredTo = mark;
    const candidates: number[] = [];
    for (const name of streams) {
      const state = this.engine.streams.get(name);
      if (!state) continue;
      const end = countAt(state, mark);
      const first = firstIndexAfter(state, end, after);
      const stop = Math.min(end, first + STREAM_CATCH_UP_EVENTS);
      for (let index = first; index < stop; index++) candidates.push(positionAt(state, index)!);
      if (stop < end) coveredTo = Math.min(coveredTo, positionAt(state, stop - 1)!);
    }
    const positions = candidates.filter((position) => position <= coveredTo).sort((a, b) => a - b);
    const byPosition = await this.readPositions(positions);
    return { events: positions.map((position) => byPosition.get(position)!), coveredTo };
  }

  /** Waits until this node has committed `minPosition` (read-your-writes on a follower). */
  async awaitPosition(operation: string, minPosition: number | undefined): Promise<void> {
    if (minPosition === undefined || minPosition <= this.mark) return;
    const position = validateIndex(minPosition, 'minPosition');
    let timer: unknown;
    const timeout = new Promise<never>((_, reject) => {
      const message = `${operation} waiting for position ${position} (committed here: ${this.mark})`;
      timer = this.timers.setTimeout(
        () => reject(new TimeoutError(message, MIN_POSITION_TIMEOUT_MS)),
        MIN_POSITION_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([this.publisher.waitCommitted(position), timeout]);
    } finally {
      this.timers.clearTimeout(timer);
    }
  }

  /**
   * In a cluster, waits for a ReadIndex read point (see ReadConsistency) so that what follows
   * sees every write acknowledged before the read began. A single node needs nothing.
   */
  linearize(operation: string, consistency: ReadAllOptions['consistency'] = 'linearizable'): Promise<void> | undefined {
    if (consistency === 'local') return undefined;
    if (consistency !== 'linearizable') {
      throw new InvalidArgumentError(
        `invalid consistency ${describe(consistency)}: expected 'linearizable' or 'local'`,
      );
    }
    if (this.replicator.isSoleVoterLeader) return undefined;
    return this.replicator.readIndex(operation).then(() => undefined);
  }

  /** Events of `stream` at `indexes` (in that order). */
  private async readIndexes(stream: string, indexes: number[]): Promise<Event[]> {
    const positions = indexes.map((index) => positionOf(this.engine, stream, index)!);
    const byPosition = await this.readPositions([...positions].sort((a, b) => a - b));
    return positions.map((position) => byPosition.get(position)!);
  }

  /** Committed events at `sorted` positions (ascending); nearby positions share one disk read. */
  private async readPositions(sorted: number[]): Promise<Map<number, Event>> {
    const byPosition = new Map<number, Event>();
    let i = 0;
    while (i < sorted.length) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1]! - sorted[j]! <= NEARBY_POSITIONS) j++;
      const wanted = new Set(sorted.slice(i, j + 1));
      let from = sorted[i]!;
      while (from <= sorted[j]!) {
        this.requireRetained('read', from); // retention may have removed it meanwhile
        const events = await this.storage.read(from, sorted[j]!, NEARBY_READ_BYTES, decodeEvent);
        if (events.length === 0) break;
        for (const event of events) if (wanted.has(event.position)) byPosition.set(event.position, event);
        from = events[events.length - 1]!.position + 1;
      }
      i = j + 1;
    }
    return byPosition;
  }
}

const ALL_VISIBLE: VisibleRange = { firstIndex: 0, minTimestamp: Number.NEGATIVE_INFINITY };

/** `range`, starting no earlier than the stream's first event retention kept. */
function withRetained(
  range: VisibleRange,
  state: StreamState | undefined,
  count: number,
  firstPosition: number,
): VisibleRange {
  if (!state || firstPosition === 0) return range;
  const firstKept = firstIndexAfter(state, count, firstPosition - 1);
  return firstKept <= range.firstIndex ? range : { ...range, firstIndex: firstKept };
}
