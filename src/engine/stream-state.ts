/**
 * Per stream: its count and the position of each index it still keeps. Positions are kept in a
 * growable Float64Array (exact for integers < 2^53, 8 bytes each, no per-event object).
 * Invariant: `positions[i]` is the position of index `first + i`, for `first <= index < count`;
 * indexes below `first` were forgotten (a tombstone, or retention removed their events), and
 * their positions are all below the kept ones and committed.
 */
export interface StreamState {
  count: number;
  /** The first index whose position is kept. */
  first: number;
  positions: Float64Array;
}

const INITIAL_CAPACITY = 4;

export function newStreamState(capacity = INITIAL_CAPACITY): StreamState {
  return { count: 0, first: 0, positions: new Float64Array(Math.max(capacity, INITIAL_CAPACITY)) };
}

export function pushPosition(state: StreamState, position: number): void {
  const kept = state.count - state.first;
  if (kept === state.positions.length) {
    const grown = new Float64Array(state.positions.length * 2);
    grown.set(state.positions);
    state.positions = grown;
  }
  state.positions[kept] = position;
  state.count++;
}

/** The position of `index`, if the stream has it and keeps it. */
export function positionAt(state: StreamState, index: number): number | undefined {
  if (index < state.first || index >= state.count) return undefined;
  return state.positions[index - state.first];
}

/** The count a reader bounded by `highWaterMark` sees (the state may hold newer, uncommitted events). */
export function countAt(state: StreamState | undefined, highWaterMark: number): number {
  if (!state || state.count === 0) return 0;
  const kept = state.count - state.first;
  if (kept === 0 || state.positions[kept - 1]! <= highWaterMark) return state.count;
  // Forgotten indexes are committed, so at or below any reader's mark.
  return state.first + firstAfter(state.positions, kept, highWaterMark);
}

/** The first index whose position is beyond `after` (or `count`), among the kept ones. */
export function firstIndexAfter(state: StreamState, count: number, after: number): number {
  const kept = Math.max(0, count - state.first);
  return state.first + firstAfter(state.positions, kept, after);
}

/** Drops indexes whose position is beyond `position` (the log was truncated). */
export function truncateStream(state: StreamState, position: number): void {
  state.count = countAt(state, position);
}

/** Forgets the positions of the indexes below `index` (at most the count); the count stays. */
export function forgetBefore(state: StreamState, index: number): void {
  const until = Math.min(index, state.count);
  if (until <= state.first) return;
  const kept = state.positions.subarray(until - state.first, state.count - state.first);
  const positions = new Float64Array(Math.max(INITIAL_CAPACITY, kept.length));
  positions.set(kept);
  state.positions = positions;
  state.first = until;
}

/** Binary search: the first of `positions[0, length)` beyond `after`. */
function firstAfter(positions: Float64Array, length: number, after: number): number {
  let low = 0;
  let high = length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (positions[mid]! <= after) low = mid + 1;
    else high = mid;
  }
  return low;
}
