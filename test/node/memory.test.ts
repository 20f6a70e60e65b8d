import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { it } from 'node:test';
import { open } from '../../src/node/index.js';
import { tempDir } from '../support/temp-dir.js';

setFlagsFromString('--expose-gc');
const gc = (globalThis as { gc?: () => void }).gc ?? (runInNewContext('gc') as () => void);
const MB = 1024 * 1024;

function heapAfterGc(): number {
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

it('written batches are released under continuous pipelined load (with and without a live subscriber)', async () => {
  const log = await open(await tempDir(), { fsync: 'never' });
  const event = { type: 'Load', data: new Uint8Array(100).fill(1) };
  const subscription = log.subscribe({ from: 'end' });
  let consumed = 0;
  const consumer = (async () => {
    for await (const _ of subscription) consumed++;
  })();
  const before = heapAfterGc();
  const total = 400_000; // ~60 MB of records
  let issued = 0;
  await Promise.all(
    Array.from({ length: 256 }, async (_, w) => {
      while (issued < total) {
        issued++;
        await log.append(`load-${w % 8}`, event);
      }
    }),
  );
  while (consumed < total) await new Promise((resolve) => setTimeout(resolve, 5));
  const grown = heapAfterGc() - before;
  // What legitimately stays: the engine's positions (8 bytes per event) and some slack.
  assert.ok(grown < 25 * MB, `heap + buffers grew by ${(grown / MB).toFixed(1)} MB after writing ~60 MB`);
  subscription.close();
  await consumer;
  await log.close();
});
