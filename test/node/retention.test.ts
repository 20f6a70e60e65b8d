import assert from 'node:assert/strict';
import { copyFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open, verifyLog, type EmbeddedEventLog, type OpenOptions } from '../../src/node/index.js';
import {
  CheckpointLostError,
  CorruptLogError,
  InvalidArgumentError,
  PositionTrimmedError,
  type Event,
} from '../../src/types/index.js';
import { tempDir } from '../support/temp-dir.js';
import { consume } from '../../src/patterns/consumer.js';
import { retentionSettled, until } from '../support/until.js';
import { collect } from '../conformance/event-log-suite.js';

const SMALL = { segmentBytes: 4096, checkpointEvery: 20, scrub: false } as const;
const PAYLOAD = 'x'.repeat(200);

async function fill(log: EmbeddedEventLog, events: number): Promise<void> {
  for (let i = 0; i < events; i++) await log.append(`s-${i % 3}`, { type: 'E', data: { i, pad: PAYLOAD } });
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'segments'))).filter((name) => name.endsWith('.seg')).sort();
}

function trimmed(firstPosition: number) {
  return (error: unknown) => {
    assert.ok(error instanceof PositionTrimmedError, String(error));
    assert.equal(error.firstPosition, firstPosition);
    return true;
  };
}

describe('retention (whole sealed segments)', () => {
  it('maxBytes removes the oldest segments; what stays reads whole, and reads of what went say where the log starts', async () => {
    const dir = await tempDir();
    const options: OpenOptions = { ...SMALL, retention: { maxBytes: 16_384, checkIntervalMs: 10 } };
    const log = await open(dir, options);
    await fill(log, 300);
    const first = await retentionSettled(log);
    const head = log.committedPosition;

    // What retention kept is every position from the first kept one to the head.
    const all = await collect(log.readAll());
    assert.equal(all[0]!.position, log.firstPosition);
    assert.deepEqual(
      all.map((event) => event.position),
      Array.from({ length: head - log.firstPosition + 1 }, (_, k) => log.firstPosition + k),
    );
    const firstNow = log.firstPosition;
    await assert.rejects(collect(log.readAll({ from: 1 })), trimmed(firstNow));
    const late = log.subscribe({ from: 1 });
    await assert.rejects(late.next(), trimmed(firstNow));
    const fromStart = log.subscribe({ from: 'start' });
    assert.equal(((await fromStart.next()).value as Event).position, firstNow);
    fromStart.close();
    // A stream read starts at the stream's first kept event; its count is every event ever.
    const stream = await collect(log.read('s-0'));
    assert.ok(stream.every((event) => event.position >= firstNow));
    assert.equal(stream[stream.length - 1]!.index, 99);
    assert.equal(await log.count('s-0'), 100);
    assert.ok(first > 0);
    // Only what a checkpoint a reopen can load covers went (the older of the two kept).
    const checkpoints = (await readdir(join(dir, 'checkpoints'))).map((name) => Number.parseInt(name, 10));
    assert.ok(Math.min(...checkpoints) >= firstNow - 1, `checkpoints ${checkpoints}, first position ${firstNow}`);
    await log.close();
  });

  it('keeps its start across a reopen, verifies, and appends go on at the next position', async () => {
    const dir = await tempDir();
    const options: OpenOptions = { ...SMALL, retention: { maxBytes: 12_000, checkIntervalMs: 10 } };
    let log = await open(dir, options);
    await fill(log, 200);
    await retentionSettled(log);
    await log.close();
    const first = log.firstPosition;
    const report = await verifyLog(dir);
    assert.deepEqual(report.problems, []);
    log = await open(dir, { ...SMALL });
    assert.equal(log.firstPosition, first);
    assert.equal((await collect(log.readAll()))[0]!.position, first);
    assert.equal((await log.append('s-0', { type: 'After' })).position, 200);
    assert.equal((await collect(log.read('s-0', { backwards: true, limit: 1 })))[0]!.type, 'After');
    await log.close();
  });

  it('a segment whose removal a crash cut short is removed at the next open', async () => {
    const dir = await tempDir();
    let log = await open(dir, { ...SMALL });
    await fill(log, 200);
    await log.close();
    const before = await segmentFiles(dir);
    const spare = join(dir, 'spare.seg');
    await copyFile(join(dir, 'segments', before[0]!), spare);
    log = await open(dir, { ...SMALL, retention: { maxBytes: 12_000, checkIntervalMs: 10 } });
    await retentionSettled(log);
    const first = log.firstPosition;
    await log.close();
    // The crash: the log start was saved, the oldest segment was not yet unlinked.
    await copyFile(spare, join(dir, 'segments', before[0]!));
    log = await open(dir, { ...SMALL });
    assert.equal(log.firstPosition, first);
    assert.ok(!(await segmentFiles(dir)).includes(before[0]!), 'the leftover is gone');
    assert.equal((await collect(log.readAll())).length, 200 - first);
    await log.close();
  });

  it('maxAge removes segments whose newest event is older than it, by the log clock', async () => {
    let now = 1_000_000;
    const dir = await tempDir();
    const log = await open(dir, {
      ...SMALL,
      environment: { clock: () => now },
      retention: { maxAge: 60_000, checkIntervalMs: 10 },
    });
    await fill(log, 100);
    now += 30_000;
    await fill(log, 100);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(log.firstPosition, 0, 'nothing is a minute old yet');
    now += 40_000; // the first 100 are 70 s old, the next 100 are 40 s old
    await until('old segments removed', () => log.firstPosition > 0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(log.firstPosition <= 100, `first position ${log.firstPosition}: an event 40 s old went`);
    await log.close();
  });

  it('never removes what no checkpoint covers: a reopen without one refuses with the reason', async () => {
    const dir = await tempDir();
    const log = await open(dir, { ...SMALL, retention: { maxBytes: 12_000, checkIntervalMs: 10 } });
    await fill(log, 200);
    await retentionSettled(log);
    await log.close();
    await rm(join(dir, 'checkpoints'), { recursive: true });
    await assert.rejects(open(dir, { ...SMALL }), (error: unknown) => {
      assert.ok(error instanceof CorruptLogError, String(error));
      assert.match(error.message, /no usable checkpoint covers position \d+/);
      return true;
    });
    const report = await verifyLog(dir);
    assert.match(report.problems.join('\n'), /no usable checkpoint covers/);
  });

  it('refuses bad retention options with the value and what was expected', async () => {
    const dir = await tempDir();
    const invalid = (pattern: RegExp) => (error: unknown) =>
      error instanceof InvalidArgumentError && pattern.test(error.message);
    await assert.rejects(open(dir, { retention: {} }), invalid(/expected maxAge \(milliseconds\) or maxBytes/));
    await assert.rejects(
      open(dir, { retention: { maxAge: -1 } }),
      invalid(/retention\.maxAge -1: expected an integer >= 1/),
    );
    await assert.rejects(open(dir, { retention: { maxBytes: 1.5 } }), invalid(/retention\.maxBytes 1\.5/));
    // A cluster member checks them alike (retention is no longer for a single node only).
    const member = { cluster: { id: 'a', peers: ['a', 'b', 'c'] } };
    await assert.rejects(
      open(dir, { ...member, retention: { maxBytes: 0 } }),
      invalid(/retention\.maxBytes 0: expected an integer >= 1/),
    );
    await assert.rejects(
      open(dir, { ...member, retention: { maxAge: 1000, checkIntervalMs: 'often' } as never }),
      invalid(/retention\.checkIntervalMs "often": expected an integer >= 1/),
    );
    await assert.rejects(open(dir, { ...member, retention: [] as never }), invalid(/invalid option retention \[\]/));
  });
});

describe('retention and consumers', () => {
  it('a consumer whose checkpoint fell behind the retained log fails and says why, instead of skipping', async () => {
    const dir = await tempDir();
    const log = await open(dir, { ...SMALL, retention: { maxBytes: 12_000, checkIntervalMs: 10 } });
    await log.append('rare', { type: 'E' });
    const handled: number[] = [];
    const options = {
      name: 'mailer',
      filter: { streams: ['rare'] },
      handler: (e: Event) => void handled.push(e.position),
    };
    const first = await consume(log, options);
    await until('the first event handled', () => handled.length > 0);
    await fill(log, 200); // none for the mailer: its checkpoint, written at stop, stays at position 0
    await first.stop();
    await until('position 1 removed', () => log.firstPosition > 1);
    const again = await consume(log, options);
    const status = await again.done;
    assert.equal(status.state, 'failed');
    assert.match(status.lastError ?? '', /subscribe from position 1: retention removed the log before position \d+/);
    await log.close();
  });

  it('a consumer whose checkpoints retention removed refuses to start; deleting them starts it over', async () => {
    const dir = await tempDir();
    const log = await open(dir, { ...SMALL, retention: { maxBytes: 12_000, checkIntervalMs: 10 } });
    await log.append('s-0', { type: 'E' });
    const handled: number[] = [];
    const options = { name: 'mailer', checkpointEvery: 1, handler: (e: Event) => void handled.push(e.position) };
    const first = await consume(log, options);
    await until('the first event handled', () => handled.length > 0);
    await first.stop();
    await fill(log, 200);
    assert.ok((await retentionSettled(log)) > 3, 'its checkpoints were removed');
    await assert.rejects(consume(log, options), (error: unknown) => {
      assert.ok(error instanceof CheckpointLostError, String(error));
      assert.match(error.message, /\$checkpoints-mailer holds \d+ checkpoints but none is readable/);
      return true;
    });
    await log.deleteStream('$checkpoints-mailer');
    handled.length = 0;
    const fresh = await consume(log, options);
    await until('it starts at the first kept position', () => handled.length > 0);
    assert.equal(handled[0], log.firstPosition);
    await fresh.stop();
    await log.close();
  });
});
