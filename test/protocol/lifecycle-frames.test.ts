import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { markResent } from '../../src/client/outgoing.js';
import {
  ByteWriter,
  EXPECTED_COUNT,
  FrameDecoder,
  FrameType,
  beginFrame,
  endFrame,
  readRequest,
  readResponse,
  writeDeleteStream,
  writeGetMetadata,
  writeSetMetadata,
  writeStreamMetadata,
  type Frame,
  type Request,
} from '../../src/protocol/index.js';
import {
  InvalidMetadataError,
  InvalidStreamError,
  MAX_METADATA_BYTES,
  ProtocolError,
  isUuid,
} from '../../src/types/index.js';
import { RandomIds } from '../../src/types/random-ids.js';

const LIMITS = { maxEventBytes: 1024 * 1024, maxEventsPerAppend: 1000 };

function frameOf(bytes: Uint8Array): Frame {
  const frames: Frame[] = [];
  new FrameDecoder(1 << 20, (frame) => frames.push(frame)).push(bytes);
  assert.equal(frames.length, 1);
  return frames[0]!;
}

function encode(write: (w: ByteWriter) => void): Uint8Array {
  const w = new ByteWriter(64);
  write(w);
  return w.take();
}

function request(bytes: Uint8Array): Request {
  return readRequest(frameOf(bytes), LIMITS);
}

/** A frame of `type` whose payload the test writes field by field (for frames a client would never send). */
function handMade(type: number, flags: number, fields: (w: ByteWriter) => void): Uint8Array {
  return encode((w) => {
    const start = beginFrame(w, type, flags, 7);
    fields(w);
    endFrame(w, start);
  });
}

/** SET_METADATA's fields: expected any, the stream, a retry key, the metadata bytes as given. */
function setMetadataFields(stream: string, json: Uint8Array): (w: ByteWriter) => void {
  return (w) => {
    w.u8(0);
    w.u64(0);
    w.str16(stream);
    w.raw(new Uint8Array(16).fill(0x42));
    w.u32(json.byteLength);
    w.raw(json);
  };
}

const utf8 = (text: string) => new TextEncoder().encode(text);

describe('protocol: stream lifecycle requests', () => {
  it('SET_METADATA carries the stream, the expected count, the metadata and a retry key that a re-send keeps', () => {
    const metadata = { maxCount: 3, custom: { owner: 'Zoë', tags: ['a', 'b'] } };
    const bytes = encode((w) => writeSetMetadata(w, 9, 'orders', metadata, 4, new RandomIds()));
    const first = request(bytes);
    assert.equal(first.op, 'setStreamMetadata');
    if (first.op !== 'setStreamMetadata') return;
    assert.equal(first.stream, 'orders');
    assert.equal(first.expected, 4);
    assert.deepEqual(first.metadata, metadata);
    assert.equal(first.resent, false);
    assert.ok(isUuid(first.retryKey), first.retryKey);
    markResent(bytes);
    const again = request(bytes);
    assert.ok(again.op === 'setStreamMetadata' && again.resent, 'flagged as a re-send');
    assert.equal(again.op === 'setStreamMetadata' && again.retryKey, first.retryKey, 'the same retry key');
  });

  it('two SET_METADATA requests get different retry keys', () => {
    const ids = new RandomIds();
    const keys = [1, 2].map((id) => {
      const decoded = request(encode((w) => writeSetMetadata(w, id, 's', {}, 'any', ids)));
      return decoded.op === 'setStreamMetadata' ? decoded.retryKey : '';
    });
    assert.notEqual(keys[0], keys[1]);
  });

  it('DELETE_STREAM carries a soft delete or a tombstone, the expected count of the stream, and a retry key', () => {
    for (const tombstone of [false, true]) {
      const bytes = encode((w) => writeDeleteStream(w, 3, 'cart', 'exists', tombstone, new RandomIds()));
      const decoded = request(bytes);
      assert.equal(decoded.op, 'deleteStream');
      if (decoded.op !== 'deleteStream') return;
      assert.deepEqual(
        { stream: decoded.stream, expected: decoded.expected, tombstone: decoded.tombstone, resent: decoded.resent },
        { stream: 'cart', expected: 'exists', tombstone, resent: false },
      );
      assert.ok(isUuid(decoded.retryKey));
      markResent(bytes);
      const again = request(bytes);
      assert.ok(again.op === 'deleteStream' && again.resent && again.tombstone === tombstone);
    }
  });

  it('GET_METADATA carries the stream and the read consistency', () => {
    for (const consistency of ['linearizable', 'local'] as const) {
      const decoded = request(encode((w) => writeGetMetadata(w, 5, 'user-1', consistency)));
      assert.deepEqual(decoded, { op: 'getStreamMetadata', stream: 'user-1', consistency });
    }
  });

  it('refuses broken frames with a protocol error: truncated, trailing bytes, unknown flags, unknown expected kind', () => {
    const good = encode((w) => writeSetMetadata(w, 1, 's', { maxAge: 10 }, 'any', new RandomIds()));
    const truncated = good.slice(0, good.byteLength - 1);
    new DataView(truncated.buffer).setUint32(0, truncated.byteLength - 4, true);
    assert.throws(() => request(truncated), ProtocolError, 'truncated');
    const json = utf8('{}');
    const trailing = handMade(FrameType.SET_METADATA, 0, (w) => {
      setMetadataFields('s', json)(w);
      w.u8(0);
    });
    assert.throws(() => request(trailing), /unexpected bytes/);
    assert.throws(() => request(handMade(FrameType.SET_METADATA, 4, setMetadataFields('s', json))), /unknown flags 4/);
    const deleteFields = (w: ByteWriter) => {
      w.u8(EXPECTED_COUNT + 1);
      w.u64(0);
      w.str16('s');
      w.raw(new Uint8Array(16));
    };
    assert.throws(() => request(handMade(FrameType.DELETE_STREAM, 0, deleteFields)), /unknown expected kind 4/);
    assert.throws(() => request(handMade(FrameType.DELETE_STREAM, 8, deleteFields)), ProtocolError);
    assert.throws(() => request(handMade(FrameType.GET_METADATA, 1, (w) => w.str16('s'))), /unknown flags 1/);
  });

  it('refuses bad stream names and bad metadata with the embedded log’s typed errors', () => {
    const json = utf8('{"maxCount":2}');
    assert.throws(
      () => request(handMade(FrameType.SET_METADATA, 0, setMetadataFields('$orders', json))),
      (error: unknown) => error instanceof InvalidStreamError && error.stream === '$orders',
    );
    assert.throws(() => request(handMade(FrameType.GET_METADATA, 0, (w) => w.str16(''))), InvalidStreamError);
    const refused: Array<[string, Uint8Array, RegExp]> = [
      ['not JSON', utf8('{maxCount: 2}'), /expected a UTF-8 JSON object/],
      ['not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), /expected a UTF-8 JSON object/],
      ['an array', utf8('[]'), /expected an object/],
      ['an unknown field', utf8('{"maxcount":2}'), /no field "maxcount"/],
      ['a bad value', utf8('{"maxAge":-1}'), /maxAge -1/],
      ['too large', utf8(JSON.stringify({ custom: { x: 'y'.repeat(MAX_METADATA_BYTES) } })), /at most 65536 bytes/],
    ];
    for (const [what, bytes, message] of refused) {
      assert.throws(
        () => request(handMade(FrameType.SET_METADATA, 0, setMetadataFields('s', bytes))),
        (error: unknown) => error instanceof InvalidMetadataError && message.test(error.message),
        what,
      );
    }
  });
});

describe('protocol: STREAM_METADATA answers', () => {
  it('carries the metadata, both counts and the deleted, tombstoned and erased flags', () => {
    for (const [deleted, tombstoned, erased] of [
      [false, false, false],
      [true, false, false],
      [false, true, false],
      [false, true, true],
    ] as const) {
      const answer = { metadata: { truncateBefore: 5, custom: { note: 'ünïcode' } }, metadataCount: 2, count: 5 };
      const bytes = encode((w) => writeStreamMetadata(w, 11, { ...answer, deleted, tombstoned, erased }));
      const frame = frameOf(bytes);
      assert.equal(frame.requestId, 11);
      assert.deepEqual(readResponse(frame), {
        kind: 'streamMetadata',
        answer: { ...answer, deleted, tombstoned, erased },
      });
    }
  });

  it('refuses an answer whose metadata is not a JSON object, or with unknown flags', () => {
    const answer = (flags: number, text: string) =>
      handMade(FrameType.STREAM_METADATA, flags, (w) => {
        w.u64(1);
        w.u64(1);
        w.str32(text);
      });
    assert.throws(() => readResponse(frameOf(answer(0, '{'))), /not JSON/);
    assert.throws(() => readResponse(frameOf(answer(0, '3'))), /not a JSON object/);
    assert.throws(() => readResponse(frameOf(answer(8, '{}'))), /unknown flags 8/);
  });
});
