import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { open } from '../../src/node/index.js';
import { CorruptLogError } from '../../src/types/errors.js';
import type { DamagedBatch } from '../../src/types/log-metrics.js';
import { tempDir } from '../support/temp-dir.js';
import { collect, take } from '../conformance/event-log-suite.js';
import { copyFirstBatch, flipByteOfFirstBatch, smallSegments, writeSegmentedLog } from '../support/damage.js';

/** Events in the log under test: enough for several sealed segments of 4 KiB. */
const EVENTS = 60;

async function damagedLog() {
  const dir = await tempDir('ordo-damaged');
  const segments = await writeSegmentedLog(dir, EVENTS);
  assert.ok(segments.length >= 4, `several segments (got ${segments.length})`);
  const damaged = segments[1]!;
  const offset = await flipByteOfFirstBatch(damaged.file);
  return { dir, segments, damaged, offset };
}

function assertCorruptAt(error: unknown, file: string, offset: number): true {
  assert.ok(error instanceof CorruptLogError, `a CorruptLogError (got ${String(error)})`);
  assert.equal(error.code, 'CORRUPT_LOG');
  assert.equal(error.file, file);
  assert.equal(error.offset, offset);
  assert.match(error.reason, /crc32c mismatch/);
  return true;
}

describe('a damaged batch in a sealed segment fails only the reads that reach it', () => {
  it('given bit rot in a sealed segment, reads through it fail with CorruptLogError and everything else goes on', async () => {
    // Given a log whose second segment's first batch has a flipped byte (its index file still valid)
    const { dir, segments, damaged, offset } = await damagedLog();
    const log = await open(dir, smallSegments({ scrub: false }));
    const reported: DamagedBatch[] = [];
    log.onDamage = (damage) => reported.push(damage);
    try {
      // When a readAll reaches the damaged batch, then it fails with the file, offset and reason
      await assert.rejects(collect(log.readAll()), (error) => assertCorruptAt(error, damaged.file, offset));
      // And so does the stream whose event is in that batch
      const hit = `s${damaged.base}`;
      await assert.rejects(collect(log.read(hit)), (error) => assertCorruptAt(error, damaged.file, offset));
      // And a subscription catching up through it
      const fromStart = log.subscribe({ from: 0 });
      await assert.rejects(take(fromStart[Symbol.asyncIterator](), EVENTS), (error) =>
        assertCorruptAt(error, damaged.file, offset),
      );
      fromStart.close();

      // Then reads that do not reach it work: the first segment, the segments after it
      assert.equal((await collect(log.read('s0'))).length, 1);
      const after = segments[2]!.base;
      const tail = await collect(log.readAll({ from: after }));
      assert.equal(tail.length, EVENTS - after);
      assert.equal((await collect(log.read(`s${EVENTS - 1}`))).length, 1);
      // And appends and live subscriptions go on
      const live = log.subscribe({ from: 'end' });
      const appended = await log.append('after-damage', { type: 'T' });
      const next = await live[Symbol.asyncIterator]().next();
      assert.equal(next.value?.position, appended.position);
      live.close();

      // And the damage was reported once, however many reads ran into it
      assert.deepEqual(
        reported.map((d) => [d.file, d.offset, d.foundBy]),
        [[damaged.file, offset, 'read']],
      );
      assert.equal(log.metrics().damagedBatches, 1);
      const status = log.status().scrub;
      assert.equal(status.damaged.length, 1);
      assert.match(status.advice ?? '', /restore/);
    } finally {
      await log.close();
    }
  });

  it('given a whole batch written in the wrong place, reads through it fail instead of answering wrong events', async () => {
    // Given a log whose second segment starts with a copy of the fourth one's first batch
    // (a misdirected write: the checksum is right, the entry is not the one that belongs there)
    const dir = await tempDir('ordo-misplaced');
    const segments = await writeSegmentedLog(dir, EVENTS);
    const damaged = segments[1]!;
    const offset = await copyFirstBatch(segments[3]!.file, damaged.file);
    const log = await open(dir, smallSegments({ scrub: false }));
    try {
      // When the stream whose event was there is read, or the log from there
      // Then the reads fail with CorruptLogError naming the batch, rather than return another event
      const outOfPlace = (error: unknown) => {
        assert.ok(error instanceof CorruptLogError, `a CorruptLogError (got ${String(error)})`);
        assert.deepEqual([error.file, error.offset], [damaged.file, offset]);
        assert.match(error.reason, /batch starts at position \d+, expected/);
        return true;
      };
      await assert.rejects(collect(log.read(`s${damaged.base}`)), outOfPlace);
      await assert.rejects(collect(log.readAll({ from: damaged.base - 1 })), outOfPlace);
      // And the reads that do not walk through it still work
      assert.equal((await collect(log.read('s0'))).length, 1);
      assert.equal((await collect(log.read(`s${segments[2]!.base}`))).length, 1);
      assert.equal(log.metrics().damagedBatches, 1);
    } finally {
      await log.close();
    }
  });
});
