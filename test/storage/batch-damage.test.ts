import assert from 'node:assert/strict';
import { readFile, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CorruptLogError } from '../../src/types/errors.js';
import { nodeFileSystem, type FileSystem } from '../../src/storage/file-system.js';
import { SegmentedLog, type SegmentedLogOptions } from '../../src/storage/segmented-log.js';
import {
  BATCH_PREFIX_BYTES,
  batchEntryIndex,
  batchSize,
  bodyOnlyChecksum,
  checkBatch,
  encodeBatchHeader,
  encodeRecord,
  recordSize,
  sealBatch,
} from '../../src/storage/record.js';
import { AT_FORMAT_VERSION, SEGMENT_HEADER_BYTES, segmentName } from '../../src/storage/segment-file.js';
import { scanSegment } from '../../src/storage/segment-scan.js';
import { tempDir } from '../support/temp-dir.js';

const options: SegmentedLogOptions = {
  segmentBytes: 64 * 1024 * 1024,
  indexIntervalBytes: 256,
  fsync: { kind: 'always' },
  maxOpenFiles: 4,
};
const BATCHES = 10;

/** Entry `entryIndex` holding the one event at position `entryIndex - 1`. */
function entry(entryIndex: number): Buffer {
  const position = entryIndex - 1;
  const data = Buffer.from(`event number ${position}`);
  const bytes = Buffer.alloc(batchSize(recordSize(8, 8, 0, data.length)));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = encodeBatchHeader(view, 0, {
    count: 1,
    term: 1,
    firstPosition: position,
    timestamp: 1_700_000_000_000 + position,
    entryIndex,
  });
  offset = encodeRecord(
    {
      flags: 0,
      index: position,
      id: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`,
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
  sealBatch(bytes, view, 0, offset);
  return bytes;
}

/** A directory whose active segment holds entries 1..BATCHES, written through the log. */
async function writtenLog(): Promise<{ dir: string; file: string }> {
  const dir = await tempDir();
  const log = await SegmentedLog.open(dir, options);
  for (let i = 1; i <= BATCHES; i++) await log.append(entry(i), i - 1, i - 1, 1, i);
  await log.close();
  return { dir, file: join(dir, segmentName(0)) };
}

/** Rewrites a segment the way format version 2 stored it: the checksum over the body only. */
function asVersion2(segment: Buffer): Buffer {
  const old = Buffer.from(segment);
  old[AT_FORMAT_VERSION] = 2;
  for (let at = SEGMENT_HEADER_BYTES; at < old.length; ) {
    const end = at + BATCH_PREFIX_BYTES + old.readUInt32LE(at);
    old.writeUInt32LE(bodyOnlyChecksum(old, at, end), at + 4);
    at = end;
  }
  return old;
}

/** A file system that serves `bytes` for every file it reads. */
function serving(bytes: Buffer): FileSystem {
  return { ...nodeFileSystem, readFile: () => Promise.resolve(bytes) };
}

describe('Batch checksums and torn tails', () => {
  it('reports every single-bit flip before the last batch of the active segment, and never loses an event silently', async () => {
    // Given an active segment of 10 acknowledged batches
    const { file } = await writtenLog();
    const original = await readFile(file);
    let lastBatch = SEGMENT_HEADER_BYTES;
    for (let at = SEGMENT_HEADER_BYTES; at < original.length; ) {
      lastBatch = at;
      at += BATCH_PREFIX_BYTES + original.readUInt32LE(at);
    }
    let reported = 0;
    let harmless = 0;
    // When each bit of batches 1..9 (prefix included) is flipped, one at a time, and the segment scanned as at open
    for (let byte = SEGMENT_HEADER_BYTES; byte < lastBatch; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const damaged = Buffer.from(original);
        damaged[byte] = damaged[byte]! ^ (1 << bit);
        try {
          const scan = await scanSegment(file, 0, { tornTailAllowed: true }, serving(damaged));
          // Then a flip that is not reported left every batch intact
          assert.equal(scan.lastIndex, BATCHES, `flip of bit ${bit} at ${byte} lost entries silently`);
          assert.equal(scan.validBytes, original.length, `flip of bit ${bit} at ${byte} cut the segment`);
          assert.deepEqual(damaged, original);
          harmless++;
        } catch (error) {
          // Then, or it is reported as damage
          if (!(error instanceof CorruptLogError)) throw error;
          reported++;
        }
      }
    }
    assert.equal(reported + harmless, (lastBatch - SEGMENT_HEADER_BYTES) * 8);
  });

  it('reports a damaged length in the middle of the log instead of cutting the log there', async () => {
    // Given 10 acknowledged batches, the 4th batch's length with one bit flipped (it now runs past the file)
    const { dir, file } = await writtenLog();
    const bytes = await readFile(file);
    let fourth = SEGMENT_HEADER_BYTES;
    for (let i = 1; i < 4; i++) fourth += BATCH_PREFIX_BYTES + bytes.readUInt32LE(fourth);
    bytes[fourth + 2] = bytes[fourth + 2]! ^ 0x01;
    await writeFile(file, bytes);
    // When the log is reopened, Then open fails naming the file and the batch
    await assert.rejects(SegmentedLog.open(dir, options), (error: unknown) => {
      assert.ok(error instanceof CorruptLogError, String(error));
      assert.equal(error.file, file);
      assert.equal(error.offset, fourth);
      assert.match(error.message, /a valid batch \(entry 5\) follows/);
      return true;
    });
  });

  it('cuts a torn tail, and says where and how much', async () => {
    // Given a log whose last batch was half written when the machine stopped
    const { dir, file } = await writtenLog();
    const bytes = await readFile(file);
    const torn = bytes.subarray(0, bytes.length - 7);
    await writeFile(file, torn);
    // When it is reopened
    const log = await SegmentedLog.open(dir, options);
    // Then the partial batch is gone, and the report names the cut
    assert.equal(log.lastIndex, BATCHES - 1);
    assert.equal(log.recovery.truncations.length, 1);
    const cut = log.recovery.truncations[0]!;
    assert.equal(cut.file, file);
    assert.equal(cut.offset + cut.bytes, torn.length);
    assert.equal(checkBatch(torn, cut.offset, torn.length).kind, 'incomplete');
    await log.close();
  });
});

describe('Upgrading format version 2 segments', () => {
  it('opens a version 2 log, upgrades its segments in place, and reads every event back', async () => {
    // Given a log written by format version 2
    const { dir, file } = await writtenLog();
    const current = await readFile(file);
    await writeFile(file, asVersion2(current));
    // When it is opened
    const log = await SegmentedLog.open(dir, options);
    // Then every entry is there, the report says the segment was upgraded, and the file is now version 3
    assert.equal(log.lastIndex, BATCHES);
    assert.equal(log.recovery.upgradedSegments, 1);
    const records = await log.read(0, log.lastPosition);
    assert.deepEqual(
      records.map((r) => r.data.toString()),
      Array.from({ length: BATCHES }, (_, i) => `event number ${i}`),
    );
    await log.close();
    assert.deepEqual(await readFile(file), current);
    const again = await SegmentedLog.open(dir, options);
    assert.equal(again.recovery.upgradedSegments, 0);
    await again.close();
  });

  it('resumes an upgrade a crash interrupted: a leftover copy is dropped and the old segment upgraded', async () => {
    // Given a version 2 segment and the half-written copy an interrupted upgrade left beside it
    const { dir, file } = await writtenLog();
    const current = await readFile(file);
    await writeFile(file, asVersion2(current));
    await writeFile(`${file}.tmp`, current.subarray(0, 100));
    // When it is opened
    const log = await SegmentedLog.open(dir, options);
    // Then the upgrade is done from the old segment, which kept every entry
    assert.equal(log.lastIndex, BATCHES);
    await log.close();
    assert.deepEqual(await readFile(file), current);
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.endsWith('.tmp')),
      [],
    );
  });

  it('refuses to upgrade a version 2 segment with damage inside it', async () => {
    // Given a version 2 segment whose 3rd batch has one flipped bit in its data
    const { dir, file } = await writtenLog();
    const old = asVersion2(await readFile(file));
    let third = SEGMENT_HEADER_BYTES;
    for (let i = 1; i < 3; i++) third += BATCH_PREFIX_BYTES + old.readUInt32LE(third);
    assert.equal(batchEntryIndex(old, third), 3);
    old[third + 60] = old[third + 60]! ^ 0x04;
    await writeFile(file, old);
    // When it is opened, Then open fails and the segment is left as it was
    await assert.rejects(SegmentedLog.open(dir, options), CorruptLogError);
    assert.deepEqual(await readFile(file), old);
  });
});

describe('Cutting the log at damage (a cluster member, whose peers hold the rest)', () => {
  it('cuts a damaged sealed segment from the damaged batch on, drops the later segments, and says so first', async () => {
    // Given 30 entries over several sealed segments, one bit flipped in the 5th batch of the first
    // (its index file gone, so open scans it)
    const dir = await tempDir();
    const small = { ...options, segmentBytes: 1024 };
    const log = await SegmentedLog.open(dir, small);
    for (let i = 1; i <= 30; i++) await log.append(entry(i), i - 1, i - 1, 1, i);
    await log.close();
    const names = (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
    assert.ok(names.length >= 3, `${names.length} segments`);
    const file = join(dir, names[0]!);
    const bytes = await readFile(file);
    let fifth = SEGMENT_HEADER_BYTES;
    for (let i = 1; i < 5; i++) fifth += BATCH_PREFIX_BYTES + bytes.readUInt32LE(fifth);
    bytes[fifth + 70] = bytes[fifth + 70]! ^ 0x20;
    await writeFile(file, bytes);
    await unlink(file.replace('.seg', '.idx'));
    // When it is opened with cutting allowed
    const told: CorruptLogError[] = [];
    let filesWhenTold: string[] = [];
    const cut = await SegmentedLog.open(dir, {
      ...small,
      cutAtDamage: async (damage) => {
        told.push(damage);
        filesWhenTold = await readdir(dir);
      },
    });
    // Then it was told about the damage before anything was cut, and the log ends before the damaged entry
    assert.equal(told.length, 1);
    assert.equal(told[0]!.offset, fifth);
    assert.deepEqual(filesWhenTold.filter((n) => n.endsWith('.seg')).sort(), names);
    assert.equal(cut.lastIndex, 4);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.endsWith('.seg')),
      [names[0]],
    );
    assert.deepEqual(
      cut.recovery.damageCuts.map((d) => [d.file, d.offset]),
      [[file, fifth]],
    );
    // and it takes the next entry at once
    await cut.append(entry(5), 4, 4, 1, 5);
    await cut.close();
  });
});

describe('Cutting the log at a damaged segment header (a cluster member)', () => {
  const small = { ...options, segmentBytes: 1024 };

  /** 30 entries over several sealed segments, each with its index file; the segment names in order. */
  async function segmentedLog(): Promise<{ dir: string; names: string[] }> {
    const dir = await tempDir();
    const log = await SegmentedLog.open(dir, small);
    for (let i = 1; i <= 30; i++) await log.append(entry(i), i - 1, i - 1, 1, i);
    await log.close();
    const names = (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
    assert.ok(names.length >= 3, `${names.length} segments`);
    return { dir, names };
  }

  async function flipBit(file: string, at: number, bit: number): Promise<void> {
    const bytes = await readFile(file);
    bytes[at] = bytes[at]! ^ (1 << bit);
    await writeFile(file, bytes);
  }

  async function openCutting(dir: string): Promise<{ log: SegmentedLog; told: CorruptLogError[] }> {
    const told: CorruptLogError[] = [];
    const log = await SegmentedLog.open(dir, { ...small, cutAtDamage: async (damage) => void told.push(damage) });
    return { log, told };
  }

  it('drops a segment whose header base position is damaged, and every later one', async () => {
    // Given a bit flipped in the base position of the second segment's header
    const { dir, names } = await segmentedLog();
    const second = join(dir, names[1]!);
    await flipBit(second, 9, 3);
    // When it is opened with cutting allowed
    const { log, told } = await openCutting(dir);
    // Then the damage is reported at the header, and the log ends with the first segment's last entry
    assert.equal(told.length, 1);
    assert.equal(told[0]!.file, second);
    assert.equal(told[0]!.offset, 0);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.endsWith('.seg')),
      [names[0]],
    );
    assert.ok(log.lastIndex > 0 && log.lastIndex < 30, `log ends at ${log.lastIndex}`);
    // and it takes the next entry at once
    const next = log.lastIndex + 1;
    await log.append(entry(next), next - 1, next - 1, 1, next);
    await log.close();
  });

  it('finds a damaged base entry index in a sealed segment loaded from its index file', async () => {
    // Given a bit flipped in the base entry index of the second segment's header (a value that
    // still continues the first segment), its index file intact
    const { dir, names } = await segmentedLog();
    const second = join(dir, names[1]!);
    const before = await SegmentedLog.open(dir, small);
    const secondStarts = (await readFile(second)).readUInt32LE(16);
    await before.close();
    await flipBit(second, 16, 6);
    // When it is opened with cutting allowed
    const { log, told } = await openCutting(dir);
    // Then the damage is reported at the header (not loaded with entries numbered wrong), and
    // the log ends where the first segment does
    assert.equal(told.length, 1);
    assert.equal(told[0]!.file, second);
    assert.equal(told[0]!.offset, 0);
    assert.equal(log.lastIndex, secondStarts - 1);
    await log.close();
  });

  it('drops the active segment when its base entry index is damaged, instead of numbering the log wrong', async () => {
    // Given a bit flipped in the base entry index of the active (last) segment's header
    const { dir, names } = await segmentedLog();
    const active = join(dir, names[names.length - 1]!);
    const activeStarts = (await readFile(active)).readUInt32LE(16);
    await flipBit(active, 16, 6);
    // When it is opened with cutting allowed
    const { log, told } = await openCutting(dir);
    // Then the damage is reported at the header, and the log ends where the segment before it does
    assert.deepEqual(
      told.map((d) => [d.file, d.offset]),
      [[active, 0]],
    );
    assert.equal(log.lastIndex, activeStarts - 1);
    await log.close();
  });

  it('starts the log over when the first segment of an empty log has a damaged base entry index', async () => {
    // Given a log with no entry yet, a bit flipped in its segment's base entry index
    const dir = await tempDir();
    await (await SegmentedLog.open(dir, small)).close();
    await flipBit(join(dir, segmentName(0)), 16, 3);
    // When it is opened with cutting allowed
    const { log, told } = await openCutting(dir);
    // Then the damage is reported, and the log is empty and takes entry 1
    assert.equal(told.length, 1);
    assert.equal(told[0]!.offset, 0);
    assert.equal(log.lastIndex, 0);
    await log.append(entry(1), 0, 0, 1, 1);
    await log.close();
  });

  it('without cutting, a damaged header fails the open naming the segment', async () => {
    // Given a bit flipped in the magic of the second segment's header
    const { dir, names } = await segmentedLog();
    await flipBit(join(dir, names[1]!), 1, 0);
    // When it is opened without cutting (a single node)
    // Then the open fails with the damage, naming the file
    await assert.rejects(
      SegmentedLog.open(dir, small),
      (error: unknown) => error instanceof CorruptLogError && error.file === join(dir, names[1]!) && error.offset === 0,
    );
  });
});
