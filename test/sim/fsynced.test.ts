import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lostUnmarked, savedLogStart, type FsyncedSegment } from '../../sim/node/fsynced.js';
import { crc32c } from '../../src/storage/crc.js';

const DIR = '/data/segments';

/** Two sealed segments (positions 0..9 and 10..19) and the newest one, as a crash left them. */
function fsynced(): FsyncedSegment[] {
  const segment = (base: number, lastPosition: number, bytes: number): FsyncedSegment => ({
    file: `${DIR}/${String(base).padStart(20, '0')}.seg`,
    bytes,
    mayLoseFrom: bytes,
    batchStarts: [],
    lastPosition,
  });
  return [segment(0, 9, 900), segment(10, 19, 800), segment(20, 24, 300)];
}

/** A log start file as the node saves it: crc32c, then the JSON. */
function logStart(position: number): Buffer {
  const json = Buffer.from(JSON.stringify({ version: 1, position, index: position + 1, term: 1 }), 'utf8');
  const bytes = Buffer.alloc(4 + json.length);
  json.copy(bytes, 4);
  bytes.writeUInt32LE(crc32c(json), 0);
  return bytes;
}

/** What a reopened node holds: every segment of `before` but those in `gone`. */
function holding(before: FsyncedSegment[], gone: string[]) {
  return (path: string) => (gone.includes(path) ? undefined : before.find((s) => s.file === path)?.bytes);
}

describe('what a reopened node must hold of what it fdatasynced', () => {
  it('segments a saved log start covers may be gone: retention removed them', () => {
    // Given a node that fdatasynced three segments, and saved a log start through position 19
    const before = fsynced();
    const files = new Map([[`${DIR}/log-start`, logStart(19)]]);
    // When it reopens without the two oldest
    const lost = lostUnmarked(before, holding(before, [before[0]!.file, before[1]!.file]), [], (dir) =>
      savedLogStart(files, dir),
    );
    // Then nothing is lost
    assert.equal(lost, undefined);
  });

  it('a segment gone that no saved log start covers, or only in part, is a loss', () => {
    const before = fsynced();
    const gone = holding(before, [before[1]!.file]);
    // Without a log start
    assert.match(
      lostUnmarked(before, gone, [], (dir) => savedLogStart(new Map(), dir)) ?? '',
      /0010\.seg holds 0 bytes of the 800/,
    );
    // With one that ends inside the segment
    const partial = new Map([[`${DIR}/log-start`, logStart(15)]]);
    assert.match(lostUnmarked(before, gone, [], (dir) => savedLogStart(partial, dir)) ?? '', /0010\.seg holds 0 bytes/);
    // With one whose checksum does not match
    const damaged = logStart(19);
    damaged[10]! ^= 1;
    const flipped = new Map([[`${DIR}/log-start`, damaged]]);
    assert.equal(savedLogStart(flipped, DIR), -1);
    assert.match(lostUnmarked(before, gone, [], (dir) => savedLogStart(flipped, dir)) ?? '', /0010\.seg holds 0 bytes/);
  });

  it('a covered segment that is still there but shorter is a loss all the same', () => {
    // Given a log start through 19, and the second segment cut short rather than removed
    const before = fsynced();
    const files = new Map([[`${DIR}/log-start`, logStart(19)]]);
    const sizeOf = (path: string) => (path === before[1]!.file ? 100 : holding(before, [])(path));
    // Then the cut is reported
    assert.match(
      lostUnmarked(before, sizeOf, [], (dir) => savedLogStart(files, dir)) ?? '',
      /holds 100 bytes of the 800/,
    );
  });
});
