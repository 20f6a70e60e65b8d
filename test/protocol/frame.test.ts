import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ByteWriter, FrameDecoder, beginFrame, endFrame, type Frame } from '../../src/protocol/index.js';
import { ProtocolError } from '../../src/types/index.js';

function encode(frames: Array<{ type: number; id: number; payload: Uint8Array }>): Uint8Array {
  const writer = new ByteWriter(64);
  for (const frame of frames) {
    const start = beginFrame(writer, frame.type, 0, frame.id);
    writer.raw(frame.payload);
    endFrame(writer, start);
  }
  return writer.take();
}

describe('protocol: frame decoding', () => {
  it('yields the same frames however the byte stream is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            type: fc.integer({ min: 1, max: 255 }),
            id: fc.nat(),
            payload: fc.uint8Array({ maxLength: 3000 }),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        fc.array(fc.nat(), { maxLength: 30 }),
        (frames, cuts) => {
          const bytes = encode(frames);
          const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
          const decoded: Frame[] = [];
          const decoder = new FrameDecoder(1 << 20, (frame) => decoded.push(frame));
          let previous = 0;
          for (const point of [...points, bytes.byteLength]) {
            decoder.push(bytes.slice(previous, point));
            previous = point;
          }
          assert.equal(decoded.length, frames.length);
          decoded.forEach((frame, i) => {
            assert.equal(frame.type, frames[i]!.type);
            assert.equal(frame.requestId, frames[i]!.id);
            assert.deepEqual(frame.payload.bytesView(frame.payload.remaining), frames[i]!.payload);
          });
          assert.equal(decoder.bufferedBytes, 0);
        },
      ),
      { numRuns: 300, seed: 424242 },
    );
  });

  it('refuses a frame above the maximum as soon as its length arrives, before buffering it', () => {
    const decoder = new FrameDecoder(1024, () => assert.fail('no frame expected'));
    const header = new Uint8Array([0x00, 0x10, 0x00, 0x00]); // 4096 bytes announced
    assert.throws(
      () => decoder.push(header),
      (error: unknown) =>
        error instanceof ProtocolError && /4100 bytes exceeds the maximum of 1024/.test(error.message),
    );
  });
});
