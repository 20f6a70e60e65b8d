import { ProtocolError, type Expected } from '../types/errors.js';
import type { ByteReader, ByteWriter } from './bytes.js';
import { EXPECTED_ANY, EXPECTED_COUNT, EXPECTED_EMPTY, EXPECTED_EXISTS } from './constants.js';

/** `expected` on the wire: `u8 kind` (0 any, 1 empty, 2 exists, 3 count) then `u64 count` (0 unless kind 3). */
export function writeExpected(w: ByteWriter, expected: Expected): void {
  if (typeof expected === 'number') {
    w.u8(EXPECTED_COUNT);
    w.u64(expected);
    return;
  }
  w.u8(expected === 'any' ? EXPECTED_ANY : expected === 'empty' ? EXPECTED_EMPTY : EXPECTED_EXISTS);
  w.u64(0);
}

export function readExpected(r: ByteReader): Expected {
  const kind = r.u8('expected kind');
  const count = r.u64('expected count');
  switch (kind) {
    case EXPECTED_ANY:
      return 'any';
    case EXPECTED_EMPTY:
      return 'empty';
    case EXPECTED_EXISTS:
      return 'exists';
    case EXPECTED_COUNT:
      return count;
    default:
      throw new ProtocolError(`unknown expected kind ${kind}`);
  }
}
