import { ProtocolError } from '../types/errors.js';
import { ByteReader, type ByteWriter } from './bytes.js';
import { FRAME_HEADER_BYTES, FRAME_LENGTH_BYTES, frameTypeName } from './constants.js';

/** One received frame; `payload` reads only this frame's payload bytes. */
export interface Frame {
  type: number;
  flags: number;
  requestId: number;
  payload: ByteReader;
}

/** Starts a frame in `writer`; returns where it starts, for `endFrame`. */
export function beginFrame(writer: ByteWriter, type: number, flags: number, requestId: number): number {
  writer.ensure(FRAME_HEADER_BYTES);
  const start = writer.offset;
  const view = writer.view;
  view.setUint32(start, 0, true);
  view.setUint8(start + 4, type);
  view.setUint8(start + 5, flags);
  view.setUint16(start + 6, 0, true);
  view.setUint32(start + 8, requestId, true);
  writer.offset += FRAME_HEADER_BYTES;
  return start;
}

/** Patches the frame's length once its payload is written. */
export function endFrame(writer: ByteWriter, start: number): void {
  writer.setU32(start, writer.offset - start - FRAME_LENGTH_BYTES);
}

/** Writes a frame with an empty payload. */
export function emptyFrame(writer: ByteWriter, type: number, flags: number, requestId: number): void {
  endFrame(writer, beginFrame(writer, type, flags, requestId));
}

/** Writes a frame whose payload is one u64 (a count or a position). */
export function u64Frame(writer: ByteWriter, type: number, requestId: number, value: number): void {
  const start = beginFrame(writer, type, 0, requestId);
  writer.u64(value);
  endFrame(writer, start);
}

/** Writes a frame whose payload is one str16 (a stream name). */
export function str16Frame(writer: ByteWriter, type: number, requestId: number, text: string): void {
  const start = beginFrame(writer, type, 0, requestId);
  writer.str16(text);
  endFrame(writer, start);
}

/**
 * Cuts a byte stream (TCP chunks, or WebSocket messages holding one or more frames) into
 * frames. A frame split across chunks is assembled; a length beyond `maxFrameBytes` is a
 * `ProtocolError` before any of it is buffered, so a hostile length cannot make us allocate.
 */
export class FrameDecoder {
  /**
   * Chunks of an incomplete frame, joined once the frame is whole (not
   * on every chunk: a 1 MiB frame in 64 KiB chunks would copy 8 MiB).
   */
  private parts: Uint8Array[] = [];
  private partsBytes = 0;
  /** Total bytes of the incomplete frame, once its length field has arrived. */
  private wanted = 0;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly onFrame: (frame: Frame) => void,
  ) {}

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.partsBytes;
  }

  push(chunk: Uint8Array): void {
    let bytes = chunk;
    if (this.parts.length > 0) {
      this.parts.push(chunk);
      this.partsBytes += chunk.byteLength;
      if (this.wanted === 0 && this.partsBytes >= FRAME_LENGTH_BYTES) this.wanted = this.frameSize(this.join(), 0);
      if (this.wanted === 0 || this.partsBytes < this.wanted) return;
      bytes = this.join();
      this.parts = [];
      this.partsBytes = 0;
      this.wanted = 0;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (bytes.byteLength - at >= FRAME_LENGTH_BYTES) {
      const size = this.frameSize(bytes, at);
      const end = at + size;
      if (end > bytes.byteLength) {
        this.wanted = size;
        break;
      }
      if (view.getUint16(at + 6, true) !== 0)
        throw new ProtocolError(`frame ${frameTypeName(view.getUint8(at + 4))}: reserved header bytes are not 0`);
      this.onFrame({
        type: view.getUint8(at + 4),
        flags: view.getUint8(at + 5),
        requestId: view.getUint32(at + 8, true),
        payload: new ByteReader(bytes, at + FRAME_HEADER_BYTES, end),
      });
      at = end;
    }
    if (at < bytes.byteLength) {
      this.parts = [bytes.subarray(at)];
      this.partsBytes = bytes.byteLength - at;
    }
  }

  /** Checked size (length field included) of the frame starting at `at`. */
  private frameSize(bytes: Uint8Array, at: number): number {
    const length = new DataView(bytes.buffer, bytes.byteOffset + at, FRAME_LENGTH_BYTES).getUint32(0, true);
    if (length < FRAME_HEADER_BYTES - FRAME_LENGTH_BYTES) {
      throw new ProtocolError(
        `frame length ${length} is below the ${FRAME_HEADER_BYTES - FRAME_LENGTH_BYTES}-byte header`,
      );
    }
    if (length + FRAME_LENGTH_BYTES > this.maxFrameBytes) {
      throw new ProtocolError(
        `frame of ${length + FRAME_LENGTH_BYTES} bytes exceeds the maximum of ${this.maxFrameBytes} bytes`,
      );
    }
    return length + FRAME_LENGTH_BYTES;
  }

  private join(): Uint8Array {
    if (this.parts.length === 1) return this.parts[0]!;
    const joined = new Uint8Array(this.partsBytes);
    let offset = 0;
    for (const part of this.parts) {
      joined.set(part, offset);
      offset += part.byteLength;
    }
    this.parts = [joined];
    return joined;
  }
}
