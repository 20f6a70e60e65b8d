/**
 * Unsigned 64-bit integers as Ordo stores and sends them: two little-endian u32 halves, low
 * half first. Values are JavaScript numbers, so only those below 2^53 are exact.
 */
export const TWO_POW_32 = 2 ** 32;
/** Largest high half of a u64 that keeps the value a safe integer (2^53 - 1). */
export const MAX_SAFE_HIGH = 2 ** 21 - 1;

/** The low u32 half of `value`. */
export function u64Low(value: number): number {
  return value >>> 0;
}

/** The high u32 half of `value`. */
export function u64High(value: number): number {
  return Math.floor(value / TWO_POW_32);
}

/** The value of a u64 given its halves (exact while `high` ≤ MAX_SAFE_HIGH). */
export function u64FromHalves(low: number, high: number): number {
  return high * TWO_POW_32 + low;
}

export function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, u64Low(value), true);
  view.setUint32(offset + 4, u64High(value), true);
}

export function getU64(view: DataView, offset: number): number {
  return u64FromHalves(view.getUint32(offset, true), view.getUint32(offset + 4, true));
}
