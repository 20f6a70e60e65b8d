import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open, verifyLog, type EmbeddedEventLog, type OpenOptions } from '../../src/node/index.js';
import { InvalidArgumentError, StreamDeletedError, WrongExpectedCountError } from '../../src/types/index.js';
import { tempDir } from '../support/temp-dir.js';
import { collect } from '../conformance/event-log-suite.js';

const SMALL: OpenOptions = { segmentBytes: 8192, checkpointEvery: 50, scrub: false, scavenge: false };
const PAYLOAD = 'p'.repeat(300);

async function fill(log: EmbeddedEventLog, stream: string, events: number, marker = PAYLOAD): Promise<void> {
  for (let i = 0; i < events; i++) await log.append(stream, { type: 'E', data: { i, pad: marker } });
}

async function segmentBytes(dir: string): Promise<number> {
  const names = (await readdir(join(dir, 'segments'))).filter((name) => name.endsWith('.seg'));
  let total = 0;
  for (const name of names) total += (await stat(join(dir, 'segments', name))).size;
  return total;
}

/** Every file under `dir` whose bytes hold `marker`. */
async function filesHolding(dir: string, marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    if ((await readFile(file)).includes(marker)) found.push(file);
  }
  return found;
}

describe('scavenging', () => {
  it('removes the bytes of events the metadata hides, keeps positions, and serves the same events after a reopen', async () => {
    const dir = await tempDir();
    let log = await open(dir, SMALL);
    await fill(log, 'trimmed', 100);
    await fill(log, 'kept', 20);
    await log.setStreamMetadata('trimmed', { maxCount: 10 });
    await log.append('tail', { type: 'E', data: {} }); // so the segments before are sealed
    const before = await segmentBytes(dir);
    const visibleBefore = await collect(log.readAll());

    const result = await log.scavenge();

    assert.equal(result.streams, 1);
    assert.ok(result.holes >= 80, `${result.holes} holes`);
    assert.ok(result.bytesReclaimed > 80 * PAYLOAD.length, `${result.bytesReclaimed} bytes reclaimed`);
    assert.ok((await segmentBytes(dir)) < before - 80 * PAYLOAD.length);
    // Readers see exactly what they saw before (the events were already hidden), and the
    // scavenge point that made them gone for good.
    const after = await collect(log.readAll());
    assert.deepEqual(after.slice(0, -1), visibleBefore);
    assert.equal(after.at(-1)!.stream, '$scavenges');
    const trimmed = await collect(log.read('trimmed'));
    assert.deepEqual(
      trimmed.map((event) => event.index),
      Array.from({ length: 10 }, (_, k) => 90 + k),
    );
    assert.equal(await log.count('trimmed'), 100);
    await log.close();

    log = await open(dir, SMALL);
    assert.deepEqual(await collect(log.readAll()), after);
    await log.close();
    const report = await verifyLog(dir);
    assert.deepEqual(report.problems, []);
    assert.ok(report.holes >= 80);
  });

  it('makes what it removed gone for good: lifting the metadata afterwards shows nothing of it again', async () => {
    const dir = await tempDir();
    const log = await open(dir, SMALL);
    await fill(log, 's', 60);
    await log.setStreamMetadata('s', { truncateBefore: 50 });
    await log.append('tail', { type: 'E', data: {} });
    await log.scavenge();

    await log.setStreamMetadata('s', {});

    const events = await collect(log.read('s'));
    assert.deepEqual(
      events.map((event) => event.index),
      Array.from({ length: 10 }, (_, k) => 50 + k),
    );
    // Appends continue the stream's indexes; expected counts count every event ever written.
    await assert.rejects(log.append('s', { type: 'E', data: {} }, { expected: 10 }), WrongExpectedCountError);
    const appended = await log.append('s', { type: 'E', data: {} }, { expected: 60 });
    assert.equal(appended.index, 60);
    await log.close();
    assert.deepEqual((await verifyLog(dir)).problems, []);
  });

  it('scavenges what maxAge hides by the events timestamps', async () => {
    let now = 1_000_000;
    const dir = await tempDir();
    const log = await open(dir, { ...SMALL, clock: () => now });
    await fill(log, 'aged', 40);
    now += 60_000;
    await fill(log, 'aged', 5);
    await log.setStreamMetadata('aged', { maxAge: 30_000 });
    await log.append('tail', { type: 'E', data: {} });

    const result = await log.scavenge();

    assert.equal(result.streams, 1);
    assert.ok(result.holes > 0 && result.holes <= 40, `${result.holes} holes`);
    const events = await collect(log.read('aged'));
    assert.deepEqual(
      events.map((event) => event.index),
      [40, 41, 42, 43, 44],
    );
    await log.close();
    assert.deepEqual((await verifyLog(dir)).problems, []);
  });

  it('rejects bad scavenge options with a typed error naming the value', async () => {
    const dir = await tempDir();
    await assert.rejects(open(dir, { scavenge: { bytesPerSecond: 0 } }), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.match(error.message, /scavenge\.bytesPerSecond 0: expected an integer >= 1/);
      return true;
    });
    await assert.rejects(
      open(dir, { scavenge: 'often' as never }),
      /invalid option scavenge "often": expected false or/,
    );
  });
});

describe('erasure', () => {
  it('removes every byte of the erased events from the node files and leaves a tombstone', async () => {
    const dir = await tempDir();
    const marker = 'ERASE-ME-7f3a9c';
    const log = await open(dir, SMALL);
    await fill(log, 'other', 30);
    await fill(log, 'user-1', 25, marker);
    await fill(log, 'other', 5);
    assert.ok((await filesHolding(dir, marker)).length > 0);

    const { position } = await log.erase('user-1');

    assert.deepEqual(await filesHolding(dir, marker), []);
    assert.deepEqual(await collect(log.read('user-1')), []);
    await assert.rejects(log.append('user-1', { type: 'E', data: {} }), StreamDeletedError);
    const metadata = await log.getStreamMetadata('user-1');
    assert.equal(metadata.tombstoned, true);
    assert.equal((await collect(log.read('other'))).length, 35);
    assert.ok(position > 0);
    await log.close();
    assert.deepEqual(await filesHolding(dir, marker), []);
    // A restart does not erase again what is done (no pass for it).
    const reopened = await open(dir, SMALL);
    await reopened.erasuresDone();
    assert.equal(reopened.status().scavenge.passes, 0);
    await reopened.close();
    const report = await verifyLog(dir);
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.pendingErasures, []);
  });

  it('erases a stream already tombstoned, once', async () => {
    const dir = await tempDir();
    const marker = 'ERASE-LATER-51b2';
    const log = await open(dir, SMALL);
    await fill(log, 'user-2', 10, marker);
    await log.deleteStream('user-2', { tombstone: true });
    assert.ok((await filesHolding(dir, marker)).length > 0);

    await log.erase('user-2');

    assert.deepEqual(await filesHolding(dir, marker), []);
    await assert.rejects(log.erase('user-2'), StreamDeletedError);
    await log.close();
  });
});
