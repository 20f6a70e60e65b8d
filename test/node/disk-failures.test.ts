import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open, verifyLog, type EmbeddedEventLog, type WriteOutcome, type WriteRequest } from '../../src/node/index.js';
import { DiskFullError, StorageFailedError, UnknownOutcomeError } from '../../src/types/errors.js';
import { prepareEvents } from '../../src/types/validate.js';
import { tempDir } from '../support/temp-dir.js';
import { collect } from '../conformance/event-log-suite.js';
import { FaultyDisk, untilDiskFull } from './faulty-disk.js';

const KEY = '00000000-0000-4000-8000-00000000d15c';
/** A guard against a hang, not a timing assertion: a node that never stops fails the test instead. */
const HANG_GUARD = { timeout: 30_000 };

/** An append as the client library sends it: its first event's id is a retry key. */
function clientAppend(resent: boolean): WriteRequest {
  const events = prepareEvents([{ id: KEY, type: 'B' }], 1024 * 1024);
  events[0]!.retryKey = true;
  return { parts: [{ stream: 's', expected: 'any', events }], ack: 'quorum', resent };
}

async function writeOne(log: EmbeddedEventLog, request: WriteRequest): Promise<WriteOutcome> {
  const [outcome] = await log.write([request]);
  if (outcome instanceof Error) throw outcome;
  return outcome!;
}

async function types(log: EmbeddedEventLog, stream = 's'): Promise<string[]> {
  return (await collect(log.read(stream))).map((event) => event.type);
}

async function segmentFile(dir: string): Promise<string> {
  const names = (await readdir(join(dir, 'segments'))).filter((name) => name.endsWith('.seg')).sort();
  return join(dir, 'segments', names[names.length - 1]!);
}

describe('a failed fdatasync stops the node', () => {
  it(
    'the append whose fdatasync failed is of unknown outcome, everything after fails STORAGE_FAILED, and its re-send after a restart is answered once',
    HANG_GUARD,
    async () => {
      // Given a log on a disk whose next fdatasync fails with EIO
      const dir = await tempDir();
      const disk = new FaultyDisk();
      const log = await open(dir, { fileSystem: disk.fs });
      await log.append('s', { type: 'A' });
      const stops: StorageFailedError[] = [];
      log.onStopped((error) => stops.push(error));
      disk.failSyncs('EIO');
      // When an append's fdatasync fails
      const failed = await writeOne(log, clientAppend(false)).then(
        () => undefined,
        (error: Error) => error,
      );
      // Then that append is of unknown outcome, and says a re-send with the same ids is safe
      assert.ok(failed instanceof UnknownOutcomeError, `got ${failed}`);
      assert.equal(failed.code, 'UNKNOWN_OUTCOME');
      assert.match(failed.message, /re-send it with the same event ids/);
      assert.match(failed.message, /EIO in fdatasync/);
      // And the node stopped: it says so once, naming the file and the error
      assert.equal(stops.length, 1);
      assert.match(stops[0]!.message, /segments[\\/].*\.seg failed \(EIO in fdatasync/);
      // And its status says appends are not taken, and why, until it is restarted
      assert.equal(log.metrics().writeState, 'stopped');
      assert.match(log.status().writes.reason ?? '', /EIO in fdatasync/);
      // And every later operation fails with the same typed error, reads included
      await assert.rejects(log.append('s', { type: 'C' }), StorageFailedError);
      // Except that a re-send is told its outcome is unknown: an earlier send may be written
      await assert.rejects(writeOne(log, clientAppend(true)), UnknownOutcomeError);
      await assert.rejects(log.count('s'), StorageFailedError);
      await assert.rejects(async () => collect(log.read('s')), StorageFailedError);
      assert.equal(disk.syncFailures, 1, 'nothing retried the failed fdatasync');
      await log.close();
      // When the node restarts and the client re-sends the append with the same ids
      const restarted = await open(dir);
      const again = await writeOne(restarted, clientAppend(true));
      // Then it is in the log exactly once, whatever the first answer was
      assert.deepEqual(await types(restarted), ['A', 'B']);
      assert.equal(again.parts[0]!.position, 1);
      await restarted.close();
      assert.deepEqual((await verifyLog(dir)).problems, []);
    },
  );

  it(
    'what the failed fdatasync covered is cut, so a restart never reads back bytes the disk may not hold',
    HANG_GUARD,
    async () => {
      // Given a log on a disk whose next fdatasync fails with EIO, after one durable append
      const dir = await tempDir();
      const disk = new FaultyDisk();
      const log = await open(dir, { fileSystem: disk.fs });
      await log.append('s', { type: 'A' });
      const file = await segmentFile(dir);
      const durableBytes = (await stat(file)).size;
      disk.failSyncs('EIO');
      // When an append is written but its fdatasync fails, and the node stops
      await assert.rejects(writeOne(log, clientAppend(false)), UnknownOutcomeError);
      await log.close();
      // Then the segment ends where the last good fdatasync left it (the page cache's copy is gone),
      assert.equal((await stat(file)).size, durableBytes);
      // so the restarted node neither serves nor commits the append it cannot vouch for
      const restarted = await open(dir);
      assert.deepEqual(await types(restarted), ['A']);
      await restarted.close();
    },
  );

  it("a failed fdatasync of the 'interval' policy stops the node with nothing pending", HANG_GUARD, async () => {
    const dir = await tempDir();
    const disk = new FaultyDisk();
    const log = await open(dir, { fileSystem: disk.fs, fsync: 'interval:5' });
    await log.append('s', { type: 'A' });
    const stopped = new Promise<StorageFailedError>((resolve) => log.onStopped(resolve));
    disk.failSyncs('EIO');
    const keepAlive = setTimeout(() => undefined, HANG_GUARD.timeout); // the sync timer does not hold the process
    const error = await stopped;
    clearTimeout(keepAlive);
    assert.match(error.message, /EIO in fdatasync/);
    await assert.rejects(log.append('s', { type: 'B' }), StorageFailedError);
    await log.close();
  });
});

describe('a full disk refuses appends with DISK_FULL and resumes by itself', () => {
  it('a re-send of an append the log holds is answered with its place, not refused', HANG_GUARD, async () => {
    // Given a log holding an append whose answer the client never got
    const dir = await tempDir();
    const disk = new FaultyDisk();
    const log = await open(dir, { fileSystem: disk.fs });
    const original = await writeOne(log, clientAppend(false));
    // And a disk that then fills up
    disk.failWrites('ENOSPC');
    const waiting = log.append('t', { type: 'C' });
    await untilDiskFull(log);
    // When the client re-sends the append
    const again = await writeOne(log, clientAppend(true));
    // Then it is answered with the original's place (DISK_FULL would say it was not written)
    assert.deepEqual(again.parts, original.parts);
    assert.equal(again.written, false);
    // And an append the log does not hold is still refused
    await assert.rejects(log.append('s', { type: 'D' }), DiskFullError);
    disk.heal();
    await waiting;
    assert.deepEqual(await types(log), ['B']);
    await log.close();
  });

  it(
    'cuts the partial batch, refuses new appends up front, keeps serving reads, and writes the waiting append once space returns',
    HANG_GUARD,
    async () => {
      // Given a log whose disk fills up in the middle of an append's write
      const dir = await tempDir();
      const disk = new FaultyDisk();
      const log = await open(dir, { fileSystem: disk.fs });
      await log.append('s', { type: 'A' });
      const file = await segmentFile(dir);
      const sizeBefore = (await stat(file)).size;
      const subscription = log.subscribe({ from: 0 });
      disk.failWrites('ENOSPC', 10);
      const waiting = writeOne(log, clientAppend(false));
      // When the write hits ENOSPC
      const refusal = await untilDiskFull(log);
      // Then new appends are refused up front with a typed, definite error
      assert.equal(refusal.code, 'DISK_FULL');
      assert.match(refusal.message, /is full \(ENOSPC in write/);
      assert.deepEqual(log.status().writes, { state: 'disk-full', reason: refusal.message });
      await assert.rejects(log.append('s', { type: 'C' }), DiskFullError);
      // And the partial batch the failed write left was cut back out
      assert.equal((await stat(file)).size, sizeBefore, 'no byte of the failed write stays in the segment');
      // And reads and subscriptions go on
      assert.deepEqual(await types(log), ['A']);
      const first = await subscription.next();
      assert.equal(!first.done && 'type' in first.value ? first.value.type : undefined, 'A');
      // When space returns
      disk.heal();
      // Then the waiting append is written (once), and appends are taken again
      const written = await waiting;
      assert.deepEqual(written.parts[0], { stream: 's', position: 1, index: 1, count: 2 });
      assert.equal((await log.append('s', { type: 'D' })).position, 2);
      assert.deepEqual(await types(log), ['A', 'B', 'D']);
      assert.equal(log.metrics().writeState, 'accepting');
      subscription.close();
      await log.close();
      assert.deepEqual((await verifyLog(dir)).problems, []);
    },
  );

  it(
    'a log closed while an append waits for space closes, gives the append up, and reports no stop',
    HANG_GUARD,
    async () => {
      // Given an append waiting for a full disk
      const dir = await tempDir();
      const disk = new FaultyDisk();
      const log = await open(dir, { fileSystem: disk.fs });
      await log.append('s', { type: 'A' });
      const stops: StorageFailedError[] = [];
      log.onStopped((error) => stops.push(error));
      disk.failWrites('ENOSPC');
      const waiting = log.append('s', { type: 'B' }).then(
        () => undefined,
        (error: Error) => error,
      );
      await untilDiskFull(log);
      // When the log is closed
      await log.close();
      // Then the append is given up as of unknown outcome (never a success), and no stop is reported
      assert.ok((await waiting) instanceof UnknownOutcomeError);
      assert.deepEqual(stops, []);
      const reopened = await open(dir);
      assert.deepEqual(await types(reopened), ['A']);
      await reopened.close();
    },
  );
});
