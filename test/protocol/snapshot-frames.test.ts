import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ByteWriter,
  FrameDecoder,
  FrameType,
  beginFrame,
  endFrame,
  readRequest,
  writeSnapshotFrame,
  type Frame,
} from '../../src/protocol/index.js';
import type { SnapshotFrame } from '../../src/raft/index.js';
import { ProtocolError } from '../../src/types/index.js';

const LIMITS = { maxEventBytes: 1024 * 1024, maxEventsPerAppend: 1000 };

function frameOf(bytes: Uint8Array): Frame {
  const frames: Frame[] = [];
  new FrameDecoder(1 << 20, (frame) => frames.push(frame)).push(bytes);
  assert.equal(frames.length, 1);
  return frames[0]!;
}

function roundTrip(frame: SnapshotFrame): SnapshotFrame {
  const w = new ByteWriter(64);
  writeSnapshotFrame(w, frame);
  const request = readRequest(frameOf(w.take()), LIMITS);
  assert.equal(request.op, 'snapshot');
  return (request as { frame: SnapshotFrame }).frame;
}

const base = { from: 'n1', to: 'n2', snapshotIndex: 900, fromIndex: 12 };

describe('snapshot transfer frames', () => {
  it('a read and an answer of batches round-trip without checkpoint fields', () => {
    const read: SnapshotFrame = { type: 'snapshot-read', ...base, positionHint: 40 };
    assert.deepEqual(roundTrip(read), read);
    const data: SnapshotFrame = { type: 'snapshot-data', ...base, bytes: Uint8Array.of(1, 2, 3), error: '' };
    const back = roundTrip(data) as SnapshotFrame & { type: 'snapshot-data' };
    assert.deepEqual({ ...back, bytes: [...back.bytes] }, { ...data, bytes: [1, 2, 3] });
  });

  it('a checkpoint read and a checkpoint piece carry where in which checkpoint, and of which entry', () => {
    const read: SnapshotFrame = {
      type: 'snapshot-read',
      ...base,
      positionHint: 40,
      checkpoint: { position: 5000, offset: 1_048_576 },
    };
    assert.deepEqual(roundTrip(read), read);
    const piece: SnapshotFrame = {
      type: 'snapshot-data',
      ...base,
      bytes: Uint8Array.of(9, 8),
      error: '',
      checkpoint: { position: 5000, offset: 1_048_576, index: 870, term: 4, size: 2_000_000 },
    };
    const back = roundTrip(piece) as SnapshotFrame & { type: 'snapshot-data' };
    assert.deepEqual(back.checkpoint, piece.checkpoint);
    assert.deepEqual([...back.bytes], [9, 8]);
  });

  it('refuses a snapshot frame with a flag it does not know', () => {
    const w = new ByteWriter(64);
    const start = beginFrame(w, FrameType.SNAPSHOT_READ, 2, 0);
    w.str16('n1');
    w.str16('n2');
    for (let k = 0; k < 3; k++) w.u64(1);
    endFrame(w, start);
    assert.throws(
      () => readRequest(frameOf(w.take()), LIMITS),
      (error: unknown) => error instanceof ProtocolError && /snapshot frame flags 2/.test(error.message),
    );
  });
});
