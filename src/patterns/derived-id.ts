import { createHash } from 'node:crypto';

/**
 * A UUID (RFC 9562 version 8, variant 10) from SHA-256 of its parts: every instance of a
 * pattern that writes "the same" event derives the same id, so the log recognises a second
 * write of it as a retry instead of storing a copy.
 */
export function derivedId(...parts: ReadonlyArray<string | number>): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  const fourth = `${variant}${hex.slice(17, 20)}`;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${fourth}-${hex.slice(20, 32)}`;
}
