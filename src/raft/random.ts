/**
 * Randomness is injected: the state machine draws election timeouts from a `RandomSource`, so
 * a seed replays a run exactly. `seededRandom` is the one the simulator and tests use; a real
 * node seeds it from the OS.
 */
export interface RandomSource {
  /** A whole number in [0, bound). */
  int(bound: number): number;
}

/** SplitMix32-style generator: tiny, fast, good enough for timeouts and fault schedules. */
export function seededRandom(seed: number): RandomSource & { float(): number; state(): number } {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return {
    int(bound: number): number {
      if (!Number.isInteger(bound) || bound <= 0)
        throw new RangeError(`random bound must be a positive integer, got ${bound}`);
      return next() % bound;
    },
    float(): number {
      return next() / 0x1_0000_0000;
    },
    state(): number {
      return state;
    },
  };
}
