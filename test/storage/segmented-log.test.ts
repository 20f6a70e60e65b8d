import assert from 'node:assert/strict';
import { readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CorruptLogError } from '../../src/types/errors.js';
import { SegmentedLog, type SegmentedLogOptions } from '../../src/storage/segmented-log.js';
import {
  BATCH_KIND_CONFIG,
  BATCH_KIND_NOOP,
  batchSize,
  encodeBatchHeader,
  encodeControlBatch,
  encodeRecord,
  recordSize,
  sealBatch,
  writeU64,
} from '../../src/storage/record.js';
import { SEGMENT_HEADER_BYTES, segmentName } from '../../src/storage/segment-file.js';
import { tempDir } from '../support/temp-dir.js';

const options: SegmentedLogOptions = {
  segmentBytes: 64 * 1024 * 1024,
  indexIntervalBytes: 256,
  fsync: { kind: 'always' },
  maxOpenFiles: 4,
};
const ID = '00000000-0000-4000-8000-000000000000';

/** One batch of `count` records starting at `first`, each with `payload` bytes of data. */
function batch(first: number, count: number, payload = 20, term = 1): Buffer {
  const data = Buffer.alloc(payload, first % 251);
  const bytes = Buffer.alloc(batchSize(count * recordSize(8, 8, 0, payload)));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = encodeBatchHeader(view, 0, {
    count,
    term,
    firstPosition: first,
    timestamp: 1_700_000_000_000 + first,
    entryIndex: 1,
  });
  for (let k = 0; k < count; k++) {
    offset = encodeRecord(
      {
        flags: 0,
        index: first + k,
        id: ID.slice(0, -8) + String(first + k).padStart(8, '0'),
        idBytes: undefined,
        randomIds: undefined,
        randomOffset: 0,
        stream: Buffer.from('stream-a'),
        type: Buffer.from('Happened'),
        metadata: undefined,
        data,
      },
      bytes,
      view,
      offset,
    );
  }
  sealBatch(bytes, view, 0, offset);
  return bytes;
}

/** Appends `bytes` as the log's next entry: its entry index is set (and the batch resealed) here. */
function append(log: SegmentedLog, bytes: Buffer, first: number, last: number, term: number): Promise<void> {
  const entryIndex = log.lastIndex + 1;
  writeU64(bytes, 8 + 32, entryIndex);
  sealBatch(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length);
  return log.append(bytes, first, last, term, entryIndex);
}

async function positions(log: SegmentedLog): Promise<number[]> {
  const found: number[] = [];
  let from = 0;
  for (;;) {
    const records = await log.read(from, log.lastPosition, 1024);
    if (records.length === 0) return found;
    for (const record of records) found.push(record.position);
    from = records[records.length - 1]!.position + 1;
  }
}

describe('SegmentedLog', () => {
  it('appends batches, reads them back in order and survives reopen', async () => {
    const dir = await tempDir();
    const log = await SegmentedLog.open(dir, options);
    assert.equal(log.lastPosition, -1);
    await Promise.all([append(log, batch(0, 3), 0, 2, 1), append(log, batch(3, 2), 3, 4, 1)]);
    assert.equal(log.durablePosition, 4);
    const records = await log.read(1, 3);
    assert.deepEqual(
      records.map((r) => r.position),
      [1, 2, 3],
    );
    assert.equal(records[0]!.stream, 'stream-a');
    assert.equal(records[0]!.id, '00000000-0000-4000-8000-000000000001');
    assert.equal(records[0]!.index, 1);
    assert.equal(records[0]!.timestamp, 1_700_000_000_000);
    assert.equal(records[2]!.timestamp, 1_700_000_000_003, "the timestamp is the batch's");
    assert.deepEqual([...records[0]!.data], [...Buffer.alloc(20, 0)]);
    await log.close();
    const reopened = await SegmentedLog.open(dir, options);
    assert.equal(reopened.lastPosition, 4);
    assert.equal(reopened.lastTerm, 1);
    assert.deepEqual(await positions(reopened), [0, 1, 2, 3, 4]);
    await reopened.close();
  });

  it('refuses a batch that does not follow the last position', async () => {
    const log = await SegmentedLog.open(await tempDir(), options);
    await assert.rejects(append(log, batch(5, 1), 5, 5, 1), /does not follow position -1/);
    await log.close();
  });

  it('group commit: appends that arrive during an fsync share the next one', async () => {
    const log = await SegmentedLog.open(await tempDir(), options);
    const durableCalls: number[] = [];
    log.onDurable = (position) => durableCalls.push(position);
    const appends: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) appends.push(append(log, batch(i, 1), i, i, 1));
    await Promise.all(appends);
    assert.equal(durableCalls[durableCalls.length - 1], 199);
    assert.ok(
      durableCalls.length < 200 / 2,
      `expected far fewer fsync rounds than appends, got ${durableCalls.length}`,
    );
    assert.deepEqual(
      durableCalls,
      [...durableCalls].sort((a, b) => a - b),
    );
    await log.close();
  });

  it('concurrent appends across many segment rolls are all durable, in order, and survive reopen', async () => {
    const dir = await tempDir();
    const small = { ...options, segmentBytes: 4096 };
    const log = await SegmentedLog.open(dir, small);
    const durable: number[] = [];
    log.onDurable = (position) => durable.push(position);
    const resolved: number[] = [];
    const appends: Promise<void>[] = [];
    for (let i = 0; i < 500; i++) appends.push(append(log, batch(i, 1, 60), i, i, 1).then(() => void resolved.push(i)));
    await Promise.all(appends);
    assert.ok(log.segmentCount > 10, `expected many rolls, got ${log.segmentCount} segments`);
    assert.deepEqual(
      resolved,
      Array.from({ length: 500 }, (_, i) => i),
      'appends resolve in order',
    );
    assert.deepEqual(
      durable,
      [...durable].sort((a, b) => a - b),
      'the durable position only moves forward',
    );
    assert.equal(durable[durable.length - 1], 499);
    await log.close();
    const reopened = await SegmentedLog.open(dir, small);
    assert.deepEqual(
      await positions(reopened),
      Array.from({ length: 500 }, (_, i) => i),
    );
    await reopened.close();
  });

  it('rolls segments at the configured size and reads across them after reopen', async () => {
    const dir = await tempDir();
    const small = { ...options, segmentBytes: 4096 };
    const log = await SegmentedLog.open(dir, small);
    for (let i = 0; i < 100; i++) await append(log, batch(i * 2, 2, 100), i * 2, i * 2 + 1, 1);
    assert.ok(log.segmentCount > 5, `expected several segments, got ${log.segmentCount}`);
    await log.close();
    const files = await readdir(dir);
    assert.ok(
      files.some((f) => f.endsWith('.idx')),
      'sealed segments have index files',
    );
    const reopened = await SegmentedLog.open(dir, small);
    assert.equal(reopened.lastPosition, 199);
    assert.deepEqual(
      await positions(reopened),
      Array.from({ length: 200 }, (_, i) => i),
    );
    const middle = await reopened.read(77, 81);
    assert.deepEqual(
      middle.map((r) => r.position),
      [77, 78, 79, 80, 81],
    );
    await reopened.close();
  });

  it('ignores the leftovers of a roll a crash interrupted', async () => {
    const dir = await tempDir();
    const small = { ...options, segmentBytes: 4096 };
    const log = await SegmentedLog.open(dir, small);
    for (let i = 0; i < 60; i++) await append(log, batch(i, 1, 100), i, i, 1);
    const segments = log.segmentCount;
    await log.close();
    // A next segment and an index file written aside but never renamed into place.
    await writeFile(join(dir, `${segmentName(60)}.tmp`), Buffer.alloc(5));
    await writeFile(join(dir, `${segmentName(0).replace('.seg', '.idx')}.tmp`), 'partial');
    const reopened = await SegmentedLog.open(dir, small);
    assert.equal(reopened.segmentCount, segments);
    assert.equal(reopened.lastPosition, 59);
    assert.ok(!(await readdir(dir)).some((f) => f.endsWith('.tmp')), 'leftovers are removed');
    await append(reopened, batch(60, 1, 100), 60, 60, 1);
    await reopened.close();
  });

  it('rebuilds a damaged index file of a sealed segment from the segment', async () => {
    const dir = await tempDir();
    const small = { ...options, segmentBytes: 4096 };
    const log = await SegmentedLog.open(dir, small);
    for (let i = 0; i < 60; i++) await append(log, batch(i, 1, 100), i, i, 1);
    await log.close();
    const idx = (await readdir(dir)).filter((f) => f.endsWith('.idx'))[0]!;
    await writeFile(join(dir, idx), 'garbage');
    const reopened = await SegmentedLog.open(dir, small);
    assert.deepEqual(
      await positions(reopened),
      Array.from({ length: 60 }, (_, i) => i),
    );
    await reopened.close();
  });

  it('truncateAfter removes later records, across segments, and appends continue', async () => {
    const dir = await tempDir();
    const small = { ...options, segmentBytes: 4096 };
    const log = await SegmentedLog.open(dir, small);
    for (let i = 0; i < 80; i++) await append(log, batch(i, 1, 100, i < 40 ? 1 : 2), i, i, i < 40 ? 1 : 2);
    await log.truncateAfter(30);
    assert.equal(log.lastPosition, 30);
    assert.equal(log.lastTerm, 1);
    assert.deepEqual(
      await positions(log),
      Array.from({ length: 31 }, (_, i) => i),
    );
    await append(log, batch(31, 2, 100, 3), 31, 32, 3);
    assert.equal(log.lastTerm, 3);
    await log.truncateAfter(-1);
    assert.equal(log.lastPosition, -1);
    assert.deepEqual(await positions(log), []);
    await append(log, batch(0, 1, 20, 4), 0, 0, 4);
    await log.close();
    const reopened = await SegmentedLog.open(dir, small);
    assert.equal(reopened.lastPosition, 0);
    assert.equal(reopened.lastTerm, 4);
    await reopened.close();
  });

  it('recovers the prefix when the last batch is cut at every byte offset', async () => {
    const dir = await tempDir();
    const log = await SegmentedLog.open(dir, options);
    await append(log, batch(0, 2), 0, 1, 1);
    await append(log, batch(2, 3, 40), 2, 4, 1);
    await log.close();
    const file = join(dir, segmentName(0));
    const full = await readFile(file);
    const lastRecordStart = SEGMENT_HEADER_BYTES + batch(0, 2).length;
    for (let cut = lastRecordStart; cut < full.length; cut++) {
      await writeFile(file, full.subarray(0, cut));
      const reopened = await SegmentedLog.open(dir, options);
      assert.equal(reopened.lastPosition, 1, `cut at byte ${cut}`);
      assert.equal(reopened.recovery.truncatedBytes, cut - lastRecordStart);
      assert.deepEqual(await positions(reopened), [0, 1]);
      await reopened.close();
      assert.equal((await stat(file)).size, lastRecordStart);
    }
  });

  it('a batch is all or nothing: a partially written one is cut whole', async () => {
    const dir = await tempDir();
    const log = await SegmentedLog.open(dir, options);
    await append(log, batch(0, 1), 0, 0, 1);
    await append(log, batch(1, 3), 1, 3, 1);
    await log.close();
    const file = join(dir, segmentName(0));
    // Keep all of the second batch's first two records and part of its third.
    await truncate(file, SEGMENT_HEADER_BYTES + batch(0, 1).length + batch(1, 3).length - 10);
    const reopened = await SegmentedLog.open(dir, options);
    assert.equal(reopened.lastPosition, 0);
    await reopened.close();
  });

  it('refuses to truncate inside a batch', async () => {
    const log = await SegmentedLog.open(await tempDir(), options);
    await append(log, batch(0, 3), 0, 2, 1);
    await assert.rejects(log.truncateAfter(1), /inside a batch/);
    assert.equal(log.lastPosition, 2);
    await log.close();
  });

  it('treats zeros after the last record (size extended, data lost) as a torn tail', async () => {
    const dir = await tempDir();
    const log = await SegmentedLog.open(dir, options);
    await append(log, batch(0, 2), 0, 1, 1);
    await log.close();
    const file = join(dir, segmentName(0));
    await writeFile(file, Buffer.concat([await readFile(file), Buffer.alloc(300)]));
    const reopened = await SegmentedLog.open(dir, options);
    assert.equal(reopened.lastPosition, 1);
    await reopened.close();
  });

  it('fails open with CorruptLogError naming file and offset when an earlier batch has a flipped bit', async () => {
    const dir = await tempDir();
    const log = await SegmentedLog.open(dir, options);
    await append(log, batch(0, 1), 0, 0, 1);
    await append(log, batch(1, 3), 1, 3, 1);
    await append(log, batch(4, 1), 4, 4, 1);
    await log.close();
    const file = join(dir, segmentName(0));
    const original = await readFile(file);
    const secondRecord = SEGMENT_HEADER_BYTES + batch(0, 1).length;
    const secondBytes = batch(1, 3).length;
    // Bytes all through the second batch (length, checksum, header, records), one at a time.
    for (let offset = secondRecord; offset < secondRecord + secondBytes; offset += 5) {
      const damaged = Buffer.from(original);
      damaged[offset] = damaged[offset]! ^ 0x10;
      await writeFile(file, damaged);
      await assert.rejects(SegmentedLog.open(dir, options), (error: unknown) => {
        assert.ok(error instanceof CorruptLogError, `flip at ${offset}: ${String(error)}`);
        assert.equal(error.code, 'CORRUPT_LOG');
        assert.equal(error.file, file);
        assert.equal(error.offset, secondRecord);
        assert.match(error.message, new RegExp(`${segmentName(0)} at byte offset ${secondRecord}`));
        return true;
      });
    }
    await writeFile(file, original);
    const intact = await SegmentedLog.open(dir, options);
    assert.equal(intact.lastPosition, 4);
    await intact.close();
  });

  it('reads report corruption in a sealed segment instead of returning bad data', async () => {
    const dir = await tempDir();
    const small = { ...options, segmentBytes: 4096 };
    const log = await SegmentedLog.open(dir, small);
    for (let i = 0; i < 60; i++) await append(log, batch(i, 1, 100), i, i, 1);
    await log.close();
    const file = join(dir, segmentName(0));
    const bytes = await readFile(file);
    bytes[SEGMENT_HEADER_BYTES + 100] = bytes[SEGMENT_HEADER_BYTES + 100]! ^ 1;
    await writeFile(file, bytes);
    const reopened = await SegmentedLog.open(dir, small); // sealed segments are not rescanned at open
    await assert.rejects(reopened.read(0, 5), CorruptLogError);
    await reopened.close();
  });

  it('keeps at most maxOpenFiles read handles while reading many segments', async () => {
    const dir = await tempDir();
    const small = { ...options, segmentBytes: 4096, maxOpenFiles: 2 };
    const log = await SegmentedLog.open(dir, small);
    for (let i = 0; i < 300; i++) await append(log, batch(i, 1, 100), i, i, 1);
    assert.ok(log.segmentCount > 8);
    const before = (await readdir('/proc/self/fd')).length;
    for (let p = 0; p < 300; p += 13) assert.equal((await log.read(p, p))[0]!.position, p);
    const afterReads = (await readdir('/proc/self/fd')).length;
    assert.ok(afterReads - before <= 2, `open descriptors grew by ${afterReads - before}`);
    await log.close();
  });
});

describe('SegmentedLog: Raft entries', () => {
  const noop = (log: SegmentedLog, term: number): Promise<void> => {
    const entryIndex = log.lastIndex + 1;
    const bytes = encodeControlBatch(
      BATCH_KIND_NOOP,
      { term, entryIndex, nextPosition: log.lastPosition + 1, timestamp: 1 },
      new Uint8Array(0),
    );
    return log.append(bytes, log.lastPosition + 1, log.lastPosition, term, entryIndex);
  };
  const config = (log: SegmentedLog, term: number, payload: string): Promise<void> => {
    const entryIndex = log.lastIndex + 1;
    const bytes = encodeControlBatch(
      BATCH_KIND_CONFIG,
      { term, entryIndex, nextPosition: log.lastPosition + 1, timestamp: 1 },
      Buffer.from(payload),
    );
    return log.append(bytes, log.lastPosition + 1, log.lastPosition, term, entryIndex);
  };

  it('entries without events (no-op, config) take an entry index but no position, and survive reopen', async () => {
    const dir = await tempDir();
    const log = await SegmentedLog.open(dir, options);
    await noop(log, 1);
    await append(log, batch(0, 2), 0, 1, 1);
    await config(log, 1, '{"change":1}');
    await noop(log, 2);
    await append(log, batch(2, 1, 20, 2), 2, 2, 2);
    assert.equal(log.lastIndex, 5);
    assert.equal(log.durableEntryIndex, 5);
    assert.equal(log.lastPosition, 2);
    assert.deepEqual(await positions(log), [0, 1, 2]);
    await log.close();
    const reopened = await SegmentedLog.open(dir, options);
    assert.equal(reopened.lastIndex, 5);
    assert.equal(reopened.lastPosition, 2);
    assert.equal(reopened.lastTerm, 2);
    assert.deepEqual(await positions(reopened), [0, 1, 2]);
    await reopened.close();
  });

  it('refuses an entry index that does not follow, and a batch whose events do not follow', async () => {
    const log = await SegmentedLog.open(await tempDir(), options);
    await noop(log, 1);
    await assert.rejects(log.append(batch(0, 1), 0, 0, 1, 5), /entry 5 does not follow entry 1/);
    await log.close();
  });

  it('truncateAfterIndex cuts whole entries across segments, entries without events included, and appends go on', async () => {
    const dir = await tempDir();
    const log = await SegmentedLog.open(dir, { ...options, segmentBytes: 1024 });
    for (let i = 0; i < 30; i++) {
      await append(log, batch(i, 1, 100), i, i, 1);
      if (i % 5 === 0) await noop(log, 1);
    }
    const last = log.lastIndex;
    // Entry 13: events 0..10 with no-ops after 0, 5 and 10 → entry 13 is event 10, entry 14 the no-op after it.
    assert.equal(await log.truncateAfterIndex(14), 10);
    assert.equal(log.lastIndex, 14);
    assert.equal(log.lastPosition, 10);
    assert.deepEqual(
      await positions(log),
      Array.from({ length: 11 }, (_, i) => i),
    );
    await append(log, batch(11, 1, 100, 2), 11, 11, 2);
    assert.equal(log.lastIndex, 15);
    await log.close();
    const reopened = await SegmentedLog.open(dir, { ...options, segmentBytes: 1024 });
    assert.equal(reopened.lastIndex, 15);
    assert.equal(reopened.lastTerm, 2);
    assert.deepEqual(
      await positions(reopened),
      Array.from({ length: 12 }, (_, i) => i),
    );
    assert.ok(last > 15);
    await assert.rejects(reopened.truncateAfterIndex(-5), /cannot truncate after entry -5/);
    await reopened.close();
  });

  it('a segment full of entries without events does not roll: segment names stay unique', async () => {
    const dir = await tempDir();
    const log = await SegmentedLog.open(dir, { ...options, segmentBytes: 256 });
    await append(log, batch(0, 1, 100), 0, 0, 1);
    for (let i = 0; i < 20; i++) await noop(log, 1);
    await append(log, batch(1, 1, 100), 1, 1, 1);
    await log.close();
    const names = (await readdir(dir)).filter((n) => n.endsWith('.seg'));
    assert.deepEqual(names, [segmentName(0), segmentName(1)]);
    const reopened = await SegmentedLog.open(dir, { ...options, segmentBytes: 256 });
    assert.equal(reopened.lastIndex, 22);
    await reopened.close();
  });

  it('an entry index out of sequence on disk is corruption', async () => {
    const dir = await tempDir();
    const log = await SegmentedLog.open(dir, options);
    await append(log, batch(0, 1), 0, 0, 1);
    await append(log, batch(1, 1), 1, 1, 1);
    await log.close();
    const file = join(dir, segmentName(0));
    const bytes = await readFile(file);
    const second = SEGMENT_HEADER_BYTES + batch(0, 1).length;
    writeU64(bytes, second + 8 + 32, 7);
    sealBatch(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), second, bytes.length);
    await writeFile(file, bytes);
    await assert.rejects(
      SegmentedLog.open(dir, options),
      (error: unknown) => error instanceof CorruptLogError && /batch is entry 7, expected entry 2/.test(error.message),
    );
  });
});

describe('SegmentedLog.resetTo: the whole log replaced by an empty one after a log start', () => {
  const small: SegmentedLogOptions = { ...options, segmentBytes: 256 };

  /** A log of `batches` one-event entries, in several segments. */
  async function filled(dir: string, batches: number): Promise<SegmentedLog> {
    const log = await SegmentedLog.open(dir, small);
    for (let i = 0; i < batches; i++) await append(log, batch(i, 1, 100), i, i, 1);
    return log;
  }

  it('starts after the given entry and position, takes the next entry there, and reopens so', async () => {
    const dir = await tempDir();
    const log = await filled(dir, 10);
    assert.ok(log.segmentCount > 1);
    await log.resetTo({ position: 99, index: 40, term: 3 });
    assert.deepEqual(
      [log.firstPosition, log.lastPosition, log.firstIndex, log.lastIndex, log.lastTerm],
      [100, 99, 41, 40, 3],
    );
    assert.equal(log.segmentCount, 1);
    assert.deepEqual(await log.read(0, 99), [], 'nothing before the new start');
    await append(log, batch(100, 2), 100, 101, 3);
    await assert.rejects(log.append(batch(5, 1), 5, 5, 3, 42), /does not follow position 101/);
    await log.close();
    const reopened = await SegmentedLog.open(dir, small);
    assert.deepEqual(
      (await reopened.read(100, 101)).map((record) => record.position),
      [100, 101],
    );
    assert.deepEqual([reopened.firstPosition, reopened.firstIndex, reopened.lastIndex], [100, 41, 41]);
    await reopened.close();
  });

  it('a crash after the new log start was saved: open removes every old segment it covers', async () => {
    const dir = await tempDir();
    const log = await filled(dir, 10);
    await log.close();
    const { saveLogStart } = await import('../../src/storage/log-start.js');
    const { nodeFileSystem } = await import('../../src/storage/file-system.js');
    await saveLogStart(dir, { position: 99, index: 40, term: 3 }, nodeFileSystem);
    const reopened = await SegmentedLog.open(dir, small);
    assert.deepEqual(
      [reopened.firstPosition, reopened.lastPosition, reopened.lastIndex, reopened.lastTerm],
      [100, 99, 40, 3],
    );
    assert.equal((await readdir(dir)).filter((name) => name.endsWith('.seg')).length, 1);
    await reopened.close();
  });

  it('an old empty segment right after the new start, at an entry it covers, goes too', async () => {
    const dir = await tempDir();
    const log = await filled(dir, 4);
    const lastIndex = log.lastIndex;
    await log.close();
    const { createSegment } = await import('../../src/storage/segment.js');
    const { saveLogStart } = await import('../../src/storage/log-start.js');
    const { nodeFileSystem } = await import('../../src/storage/file-system.js');
    // The old log ended at position 3 in an empty segment at 4; entries after it had no events.
    await createSegment(dir, 4, lastIndex + 1, nodeFileSystem);
    await saveLogStart(dir, { position: 3, index: lastIndex + 2, term: 2 }, nodeFileSystem);
    const reopened = await SegmentedLog.open(dir, small);
    assert.deepEqual(
      [reopened.firstPosition, reopened.firstIndex, reopened.lastIndex],
      [4, lastIndex + 3, lastIndex + 2],
    );
    await reopened.close();
  });
});
