import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { open } from '../../src/node/index.js';
import { nodeFileSystem, type FileSystem } from '../../src/storage/file-system.js';
import { InvalidArgumentError } from '../../src/types/errors.js';
import type { DamagedBatch } from '../../src/types/log-metrics.js';
import { tempDir } from '../support/temp-dir.js';
import {
  VirtualTimers,
  copyFirstBatch,
  flipByteOfFirstBatch,
  runUntil,
  smallSegments,
  writeSegmentedLog,
} from '../support/damage.js';

const EVENTS = 60;
/** The scrub's rate under test: a pass over the test log's sealed segments takes several virtual seconds. */
const SCRUB_BYTES_PER_SECOND = 4096;
const HOUR_MS = 60 * 60 * 1000;
const EPOCH_MS = 1_700_000_000_000;

/** A virtual environment: timers that fire when the test says, and a clock that follows them. */
function virtualEnvironment() {
  const timers = new VirtualTimers();
  const clock = () => EPOCH_MS + timers.now;
  return { timers, environment: { timers, clock, monotonicNow: () => timers.now } };
}

/** Node's file system, with every read of a segment file recorded with the virtual time it began at. */
function readRecordingFileSystem(now: () => number) {
  const reads: Array<{ at: number; bytes: number }> = [];
  const fs: FileSystem = {
    ...nodeFileSystem,
    open: async (path, flags) => {
      const handle = await nodeFileSystem.open(path, flags);
      if (!path.endsWith('.seg') || flags !== 'r') return handle;
      return Object.assign(Object.create(handle) as typeof handle, {
        read: (buffer: Buffer, offset: number, length: number, position: number) => {
          reads.push({ at: now(), bytes: length });
          return handle.read(buffer, offset, length, position);
        },
      });
    },
  };
  return { fs, reads };
}

describe('the background scrub', () => {
  it('given a damaged sealed segment, when virtual time passes, the scrub finds it and the metrics move', async () => {
    // Given a log with bit rot in a sealed segment, opened on virtual timers
    const dir = await tempDir('ordo-scrub');
    const segments = await writeSegmentedLog(dir, EVENTS);
    const damaged = segments[1]!;
    const offset = await flipByteOfFirstBatch(damaged.file);
    const { timers, environment } = virtualEnvironment();
    const log = await open(
      dir,
      smallSegments({
        environment,
        scavenge: false,
        scrub: { bytesPerSecond: SCRUB_BYTES_PER_SECOND, intervalMs: HOUR_MS },
      }),
    );
    const found: DamagedBatch[] = [];
    log.onDamage = (damage) => found.push(damage);
    try {
      const sealedBytes = log
        .status()
        .segments.slice(0, -1)
        .reduce((sum, segment) => sum + segment.bytes, 0);
      assert.equal(log.metrics().scrubVerifiedBytes, 0, 'nothing verified before time passes');

      // When time runs into the first pass, then its progress moves
      await runUntil(timers, () => log.metrics().scrubPassProgress > 0.5);
      assert.ok(log.metrics().scrubPassProgress < 1);
      assert.equal(log.status().scrub.currentPass?.totalBytes, sealedBytes);
      // And appends go on while it runs
      await log.append('during-scrub', { type: 'T' });

      // When the pass completes
      await runUntil(timers, () => log.metrics().scrubPasses === 1);

      // Then it found the damaged batch, once, and counted every sealed byte
      assert.deepEqual(
        found.map((d) => [d.file, d.offset, d.foundBy]),
        [[damaged.file, offset, 'scrub']],
      );
      assert.match(found[0]!.reason, /crc32c mismatch/);
      const metrics = log.metrics();
      assert.equal(metrics.damagedBatches, 1);
      assert.ok(metrics.scrubVerifiedBytes >= sealedBytes, `${metrics.scrubVerifiedBytes} >= ${sealedBytes}`);
      assert.equal(metrics.scrubLastPassEndTime, EPOCH_MS + timers.now);
      assert.equal(metrics.scrubPassProgress, 0);
      const status = log.status().scrub;
      assert.equal(status.passes, 1);
      assert.match(status.advice ?? '', /restore/);

      // And a second pass an interval later finds the same batch without counting it again
      await runUntil(timers, () => log.metrics().scrubPasses === 2);
      assert.equal(log.metrics().damagedBatches, 1);
      assert.equal(found.length, 1);
      assert.ok(log.metrics().scrubLastPassEndTime >= EPOCH_MS + HOUR_MS, 'the next pass waited for the interval');
    } finally {
      await log.close();
    }
  });

  it('given a whole batch in the wrong place (its checksum right), the scrub finds it out of sequence', async () => {
    const dir = await tempDir('ordo-scrub-misplaced');
    const segments = await writeSegmentedLog(dir, EVENTS);
    const offset = await copyFirstBatch(segments[3]!.file, segments[1]!.file);
    const { timers, environment } = virtualEnvironment();
    const log = await open(dir, smallSegments({ environment, scavenge: false, scrub: { bytesPerSecond: 65_536 } }));
    try {
      await runUntil(timers, () => log.metrics().scrubPasses === 1);
      const [found] = log.status().scrub.damaged;
      assert.deepEqual([found?.file, found?.offset, found?.foundBy], [segments[1]!.file, offset, 'scrub']);
      assert.match(found!.reason, /entry \d+ where entry \d+ was expected/);
      assert.equal(log.metrics().damagedBatches, 1);
    } finally {
      await log.close();
    }
  });

  it('given a healthy log, a pass verifies every sealed batch and finds nothing', async () => {
    const dir = await tempDir('ordo-scrub-healthy');
    await writeSegmentedLog(dir, EVENTS);
    const { timers, environment } = virtualEnvironment();
    const log = await open(dir, smallSegments({ environment, scavenge: false, scrub: { bytesPerSecond: 65_536 } }));
    try {
      await runUntil(timers, () => log.metrics().scrubPasses === 1);
      assert.equal(log.metrics().damagedBatches, 0);
      assert.equal(log.status().scrub.advice, undefined);
    } finally {
      await log.close();
    }
  });

  it('reads at most bytesPerSecond, plus one read, in every virtual second', async () => {
    // Given a log whose sealed segments take several seconds to scrub at the rate
    const dir = await tempDir('ordo-scrub-rate');
    await writeSegmentedLog(dir, EVENTS);
    const { timers, environment } = virtualEnvironment();
    const recording = readRecordingFileSystem(() => timers.now);
    const log = await open(
      dir,
      smallSegments({
        environment,
        scavenge: false,
        fileSystem: recording.fs,
        scrub: { bytesPerSecond: SCRUB_BYTES_PER_SECOND },
      }),
    );
    try {
      recording.reads.length = 0; // the reads of open are not the scrub's
      // When a whole pass runs
      await runUntil(timers, () => log.metrics().scrubPasses === 1);

      // Then no window of one virtual second saw more than the rate plus the one read that opened it
      const reads = recording.reads;
      const total = reads.reduce((sum, read) => sum + read.bytes, 0);
      assert.ok(total > 4 * SCRUB_BYTES_PER_SECOND, `a pass of several seconds (${total} bytes)`);
      for (const start of reads) {
        const inWindow = reads
          .filter((read) => read.at >= start.at && read.at < start.at + 1000)
          .reduce((sum, read) => sum + read.bytes, 0);
        assert.ok(
          inWindow <= SCRUB_BYTES_PER_SECOND + start.bytes,
          `${inWindow} bytes in the second from ${start.at} ms`,
        );
      }
      // And the pass took as long as its bytes take at the rate
      const first = reads[0]!.at;
      const last = reads[reads.length - 1]!;
      const seconds = (last.at - first) / 1000;
      assert.ok(seconds >= (total - last.bytes) / SCRUB_BYTES_PER_SECOND, `${total} bytes in ${seconds} s`);
    } finally {
      await log.close();
    }
  });

  it('rejects bad scrub options up front with a typed error', async () => {
    const dir = await tempDir('ordo-scrub-options');
    for (const scrub of [
      { bytesPerSecond: 0 },
      { bytesPerSecond: 1.5 },
      { intervalMs: -1 },
      { intervalMs: 'daily' },
      true,
      'fast',
    ]) {
      await assert.rejects(
        open(dir, { scrub: scrub as never }),
        (error) => error instanceof InvalidArgumentError && /scrub/.test(error.message),
        JSON.stringify(scrub),
      );
    }
    const log = await open(dir, { scrub: false });
    assert.equal(log.status().scrub.enabled, false);
    await log.close();
  });
});
