/** Bytes one event id (a UUID) takes. */
const ID_BYTES = 16;
/** `crypto.getRandomValues` refuses to fill more than this at once. */
const MAX_RANDOM_VALUES_BYTES = 65_536;
const DEFAULT_POOL_IDS = 4096;

/** The Web Crypto source, in chunks it accepts: runs in Node and in browsers alike. */
function cryptoFill(target: Uint8Array): void {
  for (let at = 0; at < target.byteLength; at += MAX_RANDOM_VALUES_BYTES) {
    globalThis.crypto.getRandomValues(target.subarray(at, at + MAX_RANDOM_VALUES_BYTES));
  }
}

/**
 * Random bytes for generated event ids, drawn from a pool refilled in bulk: one fill serves
 * 4096 ids, and no UUID string is made unless someone reads the id.
 */
export class RandomIds {
  private pool: Uint8Array;
  private used: number;

  constructor(
    private readonly fill: (target: Uint8Array) => void = cryptoFill,
    private readonly poolIds = DEFAULT_POOL_IDS,
  ) {
    this.pool = new Uint8Array(ID_BYTES * poolIds);
    this.used = this.poolIds;
  }

  /** Room for `count` ids: returns the pool and the offset of the first id. */
  reserve(count: number): { bytes: Uint8Array; offset: number } {
    if (count > this.poolIds) {
      const bytes = new Uint8Array(ID_BYTES * count);
      this.fill(bytes);
      return { bytes, offset: 0 };
    }
    if (this.used + count > this.poolIds) {
      this.fill(this.pool);
      this.used = 0;
    }
    const offset = this.used * ID_BYTES;
    this.used += count;
    return { bytes: this.pool, offset };
  }

  /** Writes one UUID v4 into `target` at `offset`. */
  write(target: Uint8Array, offset: number): void {
    const { bytes, offset: from } = this.reserve(1);
    for (let i = 0; i < ID_BYTES; i++) target[offset + i] = bytes[from + i]!;
    target[offset + 6] = (target[offset + 6]! & 0x0f) | 0x40; // version 4
    target[offset + 8] = (target[offset + 8]! & 0x3f) | 0x80; // RFC 4122 variant
  }
}
