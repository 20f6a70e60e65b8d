import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open, type OpenOptions } from '../../src/node/index.js';
import { StreamDeletedError } from '../../src/types/index.js';
import { tempDir } from '../support/temp-dir.js';
import { collect } from '../conformance/event-log-suite.js';
import { lifecycleConformance } from '../conformance/lifecycle-suite.js';

lifecycleConformance('EventLog (embedded)', async (options?: OpenOptions) => open(await tempDir(), options));

async function indexes(iterable: AsyncIterable<{ index: number }>): Promise<number[]> {
  return (await collect(iterable)).map((event) => event.index);
}

describe('EventLog (embedded): stream metadata across restarts', () => {
  for (const checkpointEvery of [1, 1_000_000]) {
    const how = checkpointEvery === 1 ? 'from a checkpoint' : 'by replaying the log';
    it(`keeps metadata, deletions and tombstones when reopened ${how}`, async () => {
      const dir = await tempDir();
      let log = await open(dir, { checkpointEvery });
      for (let i = 0; i < 4; i++) await log.append('kept', { type: 'E' });
      await log.append('gone', { type: 'E' });
      await log.append('soft', { type: 'E' });
      await log.setStreamMetadata('kept', { maxCount: 2, custom: { team: 'ops' } });
      await log.deleteStream('gone', { tombstone: true });
      await log.deleteStream('soft');
      await log.append('tail', { type: 'E' }); // a checkpoint after every change
      await log.close();
      if (checkpointEvery === 1) assert.ok((await readdir(join(dir, 'checkpoints'))).length > 0);

      log = await open(dir, { checkpointEvery });
      assert.deepEqual(await indexes(log.read('kept')), [2, 3]);
      assert.deepEqual((await log.getStreamMetadata('kept')).metadata, { maxCount: 2, custom: { team: 'ops' } });
      await assert.rejects(log.append('gone', { type: 'E' }), StreamDeletedError);
      assert.deepEqual(await indexes(log.read('soft')), []);
      assert.equal((await log.append('soft', { type: 'E' })).index, 1);
      assert.deepEqual(await indexes(log.read('soft')), [1]);
      await log.close();
    });
  }
});

describe('EventLog (embedded): maxAge', () => {
  it('hides an event once it is older than maxAge by the log clock, not before', async () => {
    let now = 1_000_000;
    const log = await open(await tempDir(), { environment: { clock: () => now } });
    await log.append('reading', { type: 'Old' });
    now += 5_000;
    await log.append('reading', { type: 'New' });
    await log.setStreamMetadata('reading', { maxAge: 5_000 });
    assert.deepEqual(await indexes(log.read('reading')), [0, 1], 'exactly maxAge old is still visible');
    now += 1;
    assert.deepEqual(await indexes(log.read('reading')), [1]);
    const all = (await collect(log.readAll())).filter((event) => event.stream === 'reading');
    assert.deepEqual(
      all.map((event) => event.index),
      [1],
    );
    now += 5_000;
    assert.deepEqual(await indexes(log.read('reading')), []);
    assert.equal(await log.count('reading'), 2);
    await log.close();
  });
});
