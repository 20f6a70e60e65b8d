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

/**
 * Cuts a byte stream (TCP chunks, or WebSocket messages holding one or more frames) into
 * frames. A frame split across chunks is assembled; a length beyond `maxFrameBytes` is a
 * `ProtocolError` before any of it is buffered, so a hostile length cannot make us allocate.
 */
export class FrameDecoder {
  private pending: Uint8Array | undefined;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly onFrame: (frame: Frame) => void,
  ) {}

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.pending?.byteLength ?? 0;
  }

  push(chunk: Uint8Array): void {
    let bytes = chunk;
    if (this.pending) {
      const joined = new Uint8Array(this.pending.byteLength + chunk.byteLength);
      joined.set(this.pending);
      joined.set(chunk, this.pending.byteLength);
      bytes = joined;
      this.pending = undefined;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (bytes.byteLength - at >= FRAME_LENGTH_BYTES) {
      const length = view.getUint32(at, true);
      if (length < FRAME_HEADER_BYTES - FRAME_LENGTH_BYTES) {
        throw new ProtocolError(`frame length ${length} is below the ${FRAME_HEADER_BYTES - FRAME_LENGTH_BYTES}-byte header`);
      }
      if (length + FRAME_LENGTH_BYTES > this.maxFrameBytes) {
        throw new ProtocolError(`frame of ${length + FRAME_LENGTH_BYTES} bytes exceeds the maximum of ${this.maxFrameBytes} bytes`);
      }
      const end = at + FRAME_LENGTH_BYTES + length;
      if (end > bytes.byteLength) break;
      if (view.getUint16(at + 6, true) !== 0) throw new ProtocolError(`frame ${frameTypeName(view.getUint8(at + 4))}: reserved header bytes are not 0`);
      this.onFrame({
        type: view.getUint8(at + 4),
        flags: view.getUint8(at + 5),
        requestId: view.getUint32(at + 8, true),
        payload: new ByteReader(bytes, at + FRAME_HEADER_BYTES, end),
      });
      at = end;
    }
    if (at < bytes.byteLength) this.pending = bytes.subarray(at);
  }
}
