import { ProtocolError } from '../types/errors.js';
import { MAX_SAFE_HIGH, setU64, u64FromHalves } from '../types/u64.js';

/**
 * Byte writing and reading for frames, on plain Uint8Array and DataView so the same code runs
 * in Node and in browsers (no Buffer).
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const INITIAL_WRITER_BYTES = 64 * 1024;

/** A growable buffer frames are written into; `take()` hands the bytes over and starts afresh. */
export class ByteWriter {
  bytes: Uint8Array;
  view: DataView;
  offset = 0;

  constructor(private readonly initialBytes = INITIAL_WRITER_BYTES) {
    this.bytes = new Uint8Array(initialBytes);
    this.view = new DataView(this.bytes.buffer);
  }

  get length(): number {
    return this.offset;
  }

  /** Makes room for `more` bytes. */
  ensure(more: number): void {
    const needed = this.offset + more;
    if (needed <= this.bytes.byteLength) return;
    let size = this.bytes.byteLength * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.offset));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  /** The bytes written so far; the writer starts a new buffer (the returned one is never reused). */
  take(): Uint8Array {
    const written = this.bytes.subarray(0, this.offset);
    this.bytes = new Uint8Array(Math.max(this.initialBytes, Math.min(this.offset, 4 * 1024 * 1024)));
    this.view = new DataView(this.bytes.buffer);
    this.offset = 0;
    return written;
  }

  u8(value: number): void {
    this.ensure(1);
    this.bytes[this.offset++] = value;
  }

  u16(value: number): void {
    this.ensure(2);
    this.view.setUint16(this.offset, value, true);
    this.offset += 2;
  }

  u32(value: number): void {
    this.ensure(4);
    this.view.setUint32(this.offset, value, true);
    this.offset += 4;
  }

  u64(value: number): void {
    this.ensure(8);
    setU64(this.view, this.offset, value);
    this.offset += 8;
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.byteLength);
    this.bytes.set(bytes, this.offset);
    this.offset += bytes.byteLength;
  }

  /** u16 byte length + UTF-8. */
  str16(text: string): void {
    this.ensure(2 + text.length * 3);
    const start = this.offset;
    this.offset += 2;
    const length = this.utf8(text);
    if (length > 0xffff) throw new ProtocolError(`string of ${length} bytes does not fit a u16 length`);
    this.view.setUint16(start, length, true);
  }

  /** u32 byte length + UTF-8. */
  str32(text: string): void {
    this.ensure(4 + text.length * 3);
    const start = this.offset;
    this.offset += 4;
    this.view.setUint32(start, this.utf8(text), true);
  }

  /** Writes UTF-8 at the offset (room for 3 bytes per char already ensured); returns its length. */
  private utf8(text: string): number {
    const start = this.offset;
    const bytes = this.bytes;
    let at = start;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code > 127) {
        at = start + encoder.encodeInto(text, bytes.subarray(start)).written;
        break;
      }
      bytes[at++] = code;
    }
    this.offset = at;
    return at - start;
  }

  setU32(at: number, value: number): void {
    this.view.setUint32(at, value, true);
  }
}

/** Reads one frame's payload; any read past its end is a `ProtocolError` naming the field. */
export class ByteReader {
  readonly view: DataView;
  offset: number;

  constructor(
    readonly bytes: Uint8Array,
    offset = 0,
    readonly end = bytes.byteLength,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  need(bytes: number, what: string): void {
    if (this.offset + bytes > this.end) {
      throw new ProtocolError(
        `truncated frame: ${what} needs ${bytes} bytes at offset ${this.offset}, only ${this.end - this.offset} left`,
      );
    }
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.bytes[this.offset++]!;
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const value = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return value;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  u64(what = 'u64'): number {
    this.need(8, what);
    const low = this.view.getUint32(this.offset, true);
    const high = this.view.getUint32(this.offset + 4, true);
    if (high > MAX_SAFE_HIGH) throw new ProtocolError(`${what} at offset ${this.offset} exceeds 2^53 - 1`);
    this.offset += 8;
    return u64FromHalves(low, high);
  }

  /** A view of the next `length` bytes (no copy). */
  bytesView(length: number, what = 'bytes'): Uint8Array {
    this.need(length, what);
    const view = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return view;
  }

  str16(what = 'string'): string {
    const length = this.u16(`${what} length`);
    return this.utf8(length, what);
  }

  str32(what = 'string'): string {
    const length = this.u32(`${what} length`);
    return this.utf8(length, what);
  }

  utf8(length: number, what: string): string {
    this.need(length, what);
    const text = decodeUtf8(this.bytes, this.offset, length, what);
    this.offset += length;
    return text;
  }

  /** Every byte of the payload must be used: trailing bytes mean a confused sender. */
  expectEnd(what: string): void {
    if (this.offset !== this.end)
      throw new ProtocolError(`${what}: ${this.end - this.offset} unexpected bytes after the payload`);
  }
}

/** Short ASCII strings (stream names, types) are the common case: decode them without TextDecoder. */
export function decodeUtf8(bytes: Uint8Array, offset: number, length: number, what = 'string'): string {
  if (length <= 64) {
    let text = '';
    for (let i = 0; i < length; i++) {
      const code = bytes[offset + i]!;
      if (code > 127) return decodeSlow(bytes, offset, length, what);
      text += String.fromCharCode(code);
    }
    return text;
  }
  return decodeSlow(bytes, offset, length, what);
}

function decodeSlow(bytes: Uint8Array, offset: number, length: number, what: string): string {
  try {
    return decoder.decode(bytes.subarray(offset, offset + length));
  } catch {
    throw new ProtocolError(`${what} is not valid UTF-8`);
  }
}
