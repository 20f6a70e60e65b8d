/**
 * Per stream: its count and the position of each index. Positions are kept in a growable
 * Float64Array (exact for integers < 2^53, 8 bytes each, no per-event object).
 */
export interface StreamState {
  count: number;
  positions: Float64Array;
}

const INITIAL_CAPACITY = 4;

export function newStreamState(capacity = INITIAL_CAPACITY): StreamState {
  return { count: 0, positions: new Float64Array(Math.max(capacity, INITIAL_CAPACITY)) };
}

export function pushPosition(state: StreamState, position: number): void {
  if (state.count === state.positions.length) {
    const grown = new Float64Array(state.positions.length * 2);
    grown.set(state.positions);
    state.positions = grown;
  }
  state.positions[state.count++] = position;
}

/** The count a reader bounded by `highWaterMark` sees (the state may hold newer, uncommitted events). */
export function countAt(state: StreamState | undefined, highWaterMark: number): number {
  if (!state || state.count === 0) return 0;
  if (state.positions[state.count - 1]! <= highWaterMark) return state.count;
  let low = 0;
  let high = state.count; // first index whose position is beyond the mark
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (state.positions[mid]! <= highWaterMark) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Drops indexes whose position is beyond `position` (the log was truncated). */
export function truncateStream(state: StreamState, position: number): void {
  state.count = countAt(state, position);
}
