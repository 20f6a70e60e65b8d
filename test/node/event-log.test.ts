import assert from 'node:assert/strict';
import { readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { segmentName } from '../../src/storage/segment-file.js';
import { open, type EmbeddedEventLog, type OpenOptions } from '../../src/node/index.js';
import { LogLockedError, WrongExpectedCountError, type Event } from '../../src/types/index.js';
import { tempDir } from '../support/temp-dir.js';
import { prepareEvent, type PreparedEvent } from '../../src/types/validate.js';
import type { Expected } from '../../src/types/errors.js';
import type { AckMode } from '../../src/types/event.js';
import { collect, eventLogConformance, take } from '../conformance/event-log-suite.js';

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

async function openTemp(options?: OpenOptions): Promise<{ log: EmbeddedEventLog; dir: string }> {
  const dir = await tempDir();
  return { log: await open(dir, options), dir };
}

describe('EventLog (embedded): expected counts and idempotency', () => {
  it('recognizes a retry with an expected count even after the id window forgot it, and after reopen', async () => {
    const dir = await tempDir();
    let log = await open(dir, { idWindow: { maxCount: 1 } });
    const events = [
      { id: id(11), type: 'A' },
      { id: id(12), type: 'B' },
    ];
    const first = await log.append('s', events, { expected: 0 });
    await log.append('x', { id: id(13), type: 'Other' });
    assert.deepEqual(await log.append('s', events, { expected: 0 }), first);
    await log.close();
    log = await open(dir);
    assert.deepEqual(await log.append('s', events, { expected: 0 }), first);
    assert.deepEqual(
      await log.append('x', { id: id(13), type: 'Other' }),
      { position: 2, index: 0, count: 1 },
      'the id window survives reopen',
    );
    await assert.rejects(
      log.append(
        's',
        [
          { id: id(11), type: 'A' },
          { id: id(99), type: 'B' },
        ],
        { expected: 0 },
      ),
      WrongExpectedCountError,
    );
    assert.equal(await log.headPosition(), 2);
    await log.close();
  });
});

describe('EventLog (embedded): bad input gets typed errors naming the value', () => {
  it('close() writes appends accepted just before it', async () => {
    const dir = await tempDir();
    const log = await open(dir);
    const appends = Array.from({ length: 5 }, (_, i) => log.append('s', { type: 'T', data: i }));
    await log.close();
    assert.deepEqual(
      (await Promise.all(appends)).map((r) => r.position),
      [0, 1, 2, 3, 4],
    );
    const reopened = await open(dir);
    assert.equal(await reopened.count('s'), 5);
    await reopened.close();
  });

  it('a second open of the same directory is refused while the first holds it', async () => {
    const { log, dir } = await openTemp();
    await assert.rejects(open(dir), LogLockedError);
    await log.close();
    const again = await open(dir);
    await again.close();
  });

  it('takes over a lock left with its own pid by an earlier process (a restarted container reuses pids)', async () => {
    // Given a directory whose last owner crashed holding the lock, with the pid this process has now
    const { log, dir } = await openTemp();
    await log.append('s', { type: 'A' });
    await log.close();
    await writeFile(join(dir, 'LOCK'), String(process.pid));
    // When this process opens it, Then the stale lock is taken over and the log is there
    const again = await open(dir);
    assert.equal(await again.count('s'), 1);
    await assert.rejects(open(dir), LogLockedError);
    await again.close();
  });

  it('rejects bad options with the value', async () => {
    const dir = await tempDir();
    await assert.rejects(open(dir, { fsync: 'sometimes' as never }), /invalid fsync policy "sometimes"/);
    await assert.rejects(open(dir, { segmentBytes: 10 }), /invalid option segmentBytes 10/);
  });
});

describe('EventLog (embedded): subscriptions', () => {
  it('a subscriber far behind the tail is moved to disk, memory stays bounded, and it skips nothing', async () => {
    const { log } = await openTemp({ subscriberMaxLag: 100 });
    const slow = log.subscribe({ from: 'end' });
    const first = slow.next(); // on the live tail now
    for (let i = 0; i < 100; i++)
      await log.append(
        's',
        Array.from({ length: 10 }, () => ({ type: 'T' })),
      );
    assert.equal(((await first).value as Event).position, 0);
    assert.equal(slow.isLive, false, 'the lagging subscriber was detached from the live tail');
    assert.equal(log.status().subscribers, 0);
    const rest = (await take(slow, 999)) as Event[];
    assert.deepEqual(
      rest.map((e) => e.position),
      Array.from({ length: 999 }, (_, i) => i + 1),
    );
    const next = slow.next();
    assert.equal(slow.isLive, true, 'caught up again, it is back on the live tail');
    await log.append('s', { type: 'Later' });
    assert.equal(((await next).value as Event).position, 1000);
    slow.close();
    await log.close();
  });
});

describe('EventLog (embedded): durability across reopen', () => {
  it('reopens with every event, count and position, using index checkpoints', async () => {
    const dir = await tempDir();
    let log = await open(dir, { checkpointEvery: 100, segmentBytes: 16 * 1024 });
    for (let i = 0; i < 30; i++)
      await log.append(
        `s${i % 4}`,
        Array.from({ length: 10 }, (_, k) => ({ type: 'T', data: i * 10 + k })),
      );
    await log.close();
    log = await open(dir, { checkpointEvery: 100, segmentBytes: 16 * 1024 });
    assert.equal(log.openReport.replayedEvents, 0, 'a clean close leaves a checkpoint at the head');
    assert.equal(await log.headPosition(), 299);
    assert.equal(await log.count('s1'), 80);
    const s1 = await collect(log.read('s1'));
    assert.deepEqual(
      s1.map((e) => e.index),
      Array.from({ length: 80 }, (_, i) => i),
    );
    assert.deepEqual(await log.append('s1', { type: 'T' }, { expected: 80 }), { position: 300, index: 80, count: 81 });
    await log.close();
  });

  it('after losing an unsynced tail, checkpoints of the lost events are never used', async () => {
    const dir = await tempDir();
    let log = await open(dir, { fsync: 'never', checkpointEvery: 10 });
    for (let i = 0; i < 10; i++) await log.append('a', { type: 'T' });
    const firstBatchEnd = (await stat(join(dir, 'segments', segmentName(0)))).size;
    for (let i = 0; i < 20; i++) await log.append('b', { type: 'T' });
    await log.close(); // checkpoints up to position 29
    // Power loss: only the first 10 events had reached the disk.
    await truncate(join(dir, 'segments', segmentName(0)), firstBatchEnd);
    log = await open(dir, { fsync: 'never', checkpointEvery: 1000 });
    assert.equal(await log.headPosition(), 9);
    assert.equal(await log.count('b'), 0);
    const checkpoints = (await readdir(join(dir, 'checkpoints'))).map((f) => Number.parseInt(f, 10));
    assert.ok(
      checkpoints.every((p) => p <= 9),
      `checkpoints beyond the log remain: ${checkpoints}`,
    );
    for (let i = 0; i < 30; i++) await log.append('c', { type: 'T' });
    assert.equal(await log.count('b'), 0);
    assert.equal(await log.count('c'), 30);
    await log.close();
  });

  it("fsync policies 'interval' and 'never' acknowledge and persist across a clean close", async () => {
    for (const fsync of ['interval:5', 'never'] as const) {
      const dir = await tempDir();
      const log = await open(dir, { fsync });
      await Promise.all(Array.from({ length: 20 }, (_, i) => log.append('s', { type: 'T', data: i })));
      await log.close();
      const reopened = await open(dir);
      assert.equal(await reopened.count('s'), 20, fsync);
      await reopened.close();
    }
  });
});

describe('EventLog (embedded): write (the server path for pipelined appends)', () => {
  it('decides each append on its own and in order; each gets its own result or error; one failure writes nothing of its own', async () => {
    const { log } = await openTemp();
    const event = (type: string) => prepareEvent({ type }, 1024);
    const append = (stream: string, expected: Expected, events: PreparedEvent[], ack: AckMode = 'quorum') => ({
      parts: [{ stream, expected, events }],
      ack,
      resent: false,
    });
    const written = await log.write([
      append('s', 'empty', [event('A')]),
      append('s', 'empty', [event('B')]),
      append('s', 1, [event('C'), event('D')]),
      append('$bad', 'any', [event('E')]),
      append('t', 'any', [event('F')], 'none'),
    ]);
    const outcomes = written.map((o) =>
      o instanceof Error ? o : { position: o.parts[0]!.position, index: o.parts[0]!.index, count: o.parts[0]!.count },
    );
    assert.deepEqual(outcomes[0], { position: 0, index: 0, count: 1 });
    assert.ok(outcomes[1] instanceof WrongExpectedCountError && outcomes[1].actual === 1, 'decided after the first');
    assert.deepEqual(outcomes[2], { position: 1, index: 1, count: 3 });
    assert.ok(outcomes[3] instanceof Error && /reserved/.test(outcomes[3].message));
    assert.deepEqual(outcomes[4], { position: 3, index: 0, count: 1 });
    assert.deepEqual(
      (await collect(log.readAll())).map((e) => e.type),
      ['A', 'C', 'D', 'F'],
    );
    await log.close();
  });
});

describe('EventLog (embedded): writes made by code a commit woke up', () => {
  it('an append made by a subscriber as it receives a committed event is written without waiting for another write', async () => {
    const { log } = await openTemp();
    const subscription = log.subscribe({ from: 0, filter: { streams: ['in'] } });
    const answered: number[] = [];
    const reacting = (async () => {
      for await (const item of subscription) {
        if (!('position' in item)) continue;
        // Runs as the commit that delivered `item` is published: the Ready loop may still look busy.
        answered.push((await log.existsOrWrite('out', item.index, { type: 'Reply' })).index);
        if (answered.length === 3) break;
      }
    })();
    for (let i = 0; i < 3; i++) {
      await log.append('in', { type: 'Ping' });
      // Nothing else is written until the reply to this one is: a reply left behind would wait forever.
      const deadline = Date.now() + 5_000;
      while (answered.length <= i && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(answered.length, i + 1, `the reply to ping ${i} was written`);
    }
    await reacting;
    subscription.close();
    assert.deepEqual(
      (await collect(log.read('out'))).map((e) => e.type),
      ['Reply', 'Reply', 'Reply'],
    );
    await log.close();
  });
});

eventLogConformance('EventLog (embedded)', async (options) => (await openTemp(options)).log);
