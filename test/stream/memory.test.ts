import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { it } from 'node:test';
import { EMPTY, EventStream } from '../../src/stream/index.js';

setFlagsFromString('--expose-gc');
const gc = (globalThis as { gc?: () => void }).gc ?? (runInNewContext('gc') as () => void);

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const EVENTS = 1_000_000;
const MB = 1024 * 1024;
const value = (i: number) => ({ position: i, stream: 'stream-of-events', type: 'SomethingHappened', payload: 'x'.repeat(40) });

it('memory stays bounded over 1M events when the subscriber keeps up', async () => {
  const stream = new EventStream<ReturnType<typeof value>>();
  const subscription = stream.subscribe();
  const before = heapAfterGc();
  let seen = 0;
  let peak = 0;
  for (let i = 0; i < EVENTS; i++) {
    stream.publish(value(i));
    if (i % 10_000 === 9_999) {
      for (let v = subscription.pull(); v !== EMPTY; v = subscription.pull()) seen++;
      if (i % 200_000 === 199_999) peak = Math.max(peak, heapAfterGc() - before);
    }
  }
  for (let v = subscription.pull(); v !== EMPTY; v = subscription.pull()) seen++;
  assert.equal(seen, EVENTS);
  assert.ok(peak < 10 * MB, `heap grew by ${(peak / MB).toFixed(1)} MB over 1M events with a subscriber that keeps up`);
});

it('a subscriber that does not advance retains what it has not read, and releases it when closed', async () => {
  const stream = new EventStream<ReturnType<typeof value>>();
  const before = heapAfterGc();
  const stuck = stream.subscribe();
  for (let i = 0; i < 200_000; i++) stream.publish(value(i));
  const retained = heapAfterGc() - before;
  assert.ok(retained > 10 * MB, `a stuck subscriber should pin the list, but the heap grew only ${(retained / MB).toFixed(1)} MB`);
  stuck.close();
  const released = heapAfterGc() - before;
  assert.ok(released < 5 * MB, `after close the heap is still ${(released / MB).toFixed(1)} MB above the start`);
});
