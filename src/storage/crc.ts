import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/**
 * CRC32C (Castagnoli), the checksum of every record and index file. `@node-rs/crc32` uses the
 * SSE4.2 / ARMv8 CRC instructions; a table-driven JS version would cost ~10x more per byte.
 */
export function crc32c(bytes: Uint8Array, initial?: number): number {
  return nativeCrc32c(bytes as Buffer, initial) >>> 0;
}
