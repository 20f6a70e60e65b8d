/** UUIDs travel as 36-character strings in the API and as 16 bytes on disk. */

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const DASH_AFTER_BYTE = [false, false, false, true, false, true, false, true, false, true, false, false, false, false, false, false];

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && value.length === 36 && UUID_PATTERN.test(value);
}

/** Writes the 16 bytes of a valid UUID string (callers validate first). */
export function writeUuid(uuid: string, target: Uint8Array, offset: number): void {
  let at = 0;
  for (let i = 0; i < 16; i++) {
    if (uuid.charCodeAt(at) === 45 /* - */) at++;
    target[offset + i] = (HEX_VALUE[uuid.charCodeAt(at)]! << 4) | HEX_VALUE[uuid.charCodeAt(at + 1)]!;
    at += 2;
  }
}

export function readUuid(source: Uint8Array, offset: number): string {
  let text = '';
  for (let i = 0; i < 16; i++) {
    text += HEX[source[offset + i]!]!;
    if (DASH_AFTER_BYTE[i]) text += '-';
  }
  return text;
}

/** Nibble value of each ASCII hex digit (callers pass validated UUIDs). */
const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[65 + i] = 10 + i;
  HEX_VALUE[97 + i] = 10 + i;
}
