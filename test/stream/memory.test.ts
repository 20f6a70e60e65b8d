import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EventStream } from '../../src/stream/index.js';

// Run with --expose-gc when possible; otherwise enable it now and take gc from a fresh context.
function obtainGc(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
const gc = obtainGc();

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const EVENTS = 1_000_000;
const MB = 1024 * 1024;
const BOUND = 20 * MB;
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;

const scratch = Buffer.alloc(40, 'x');
/**
 * About 110 bytes each: an object of four fields and a fresh, flat 40-character string (a string
 * built with padEnd or + is a tree of pieces, two to three times larger).
 */
function value(i: number) {
  scratch.write(String(i));
  return { position: i, stream: 'stream-of-events', type: 'SomethingHappened', payload: scratch.toString('latin1') };
}
type Value = ReturnType<typeof value>;

it('memory stays bounded over 1M published values when the subscribers keep up', async (t) => {
  const stream = new EventStream<Value>();
  let sum = 0;
  let iterated = 0;
  const iterating = (async () => {
    for await (const v of stream.subscribe()) {
      sum += v.position;
      iterated++;
    }
  })();
  const pulling = stream.subscribe();
  let pulled = 0;
  const before = heapAfterGc();
  let peak = 0;
  for (let i = 0; i < EVENTS; i++) {
    stream.publish(value(i));
    if (i % 1000 === 999) {
      for (let v = pulling.pull(); typeof v === 'object'; v = pulling.pull()) pulled++;
      await tick(); // the for-await subscriber catches up here
      if (i % 100_000 === 99_999) peak = Math.max(peak, heapAfterGc() - before);
    }
  }
  stream.close();
  await iterating;
  assert.equal(iterated, EVENTS);
  assert.equal(sum, (EVENTS * (EVENTS - 1)) / 2);
  assert.equal(pulled, EVENTS);
  t.diagnostic(`peak heap growth ${mb(peak)} (bound ${mb(BOUND)})`);
  assert.ok(peak < BOUND, `heap grew by ${mb(peak)} over 1M values with subscribers that keep up`);
});

it('control: a subscription that does not advance retains every value, and releases them when closed', async (t) => {
  const stream = new EventStream<Value>();
  const keepingUp = stream.subscribe();
  const before = heapAfterGc();
  const stuck = stream.subscribe();
  for (let i = 0; i < EVENTS; i++) {
    stream.publish(value(i));
    if (i % 1000 === 999) while (typeof keepingUp.pull() === 'object');
  }
  const retained = heapAfterGc() - before;
  // The same workload as above: this is what the bound there would catch.
  assert.ok(retained > BOUND, `a stuck subscriber should pin the list, but the heap grew only ${mb(retained)}`);
  stuck.close();
  const released = heapAfterGc() - before;
  t.diagnostic(`retained ${mb(retained)} while stuck, ${mb(released)} after close`);
  assert.ok(
    released < BOUND / 4,
    `after close the heap is still ${mb(released)} above the start (${mb(retained)} before)`,
  );
  assert.equal(stream.published, EVENTS);
});

it('waits that end with nothing published do not pile up on a quiet stream', async (t) => {
  const stream = new EventStream<Value>();
  stream.publish(value(0));
  const churn = async (times: number) => {
    for (let i = 0; i < times; i++) {
      // a client that connects, waits and goes away; and a wait given up on (a timeout, say)
      const subscription = stream.subscribe();
      const waiting = subscription.wait();
      subscription.close();
      const controller = new AbortController();
      const given = stream.wait(stream.tail(), controller.signal);
      controller.abort();
      if (i % 1000 === 0) assert.deepEqual(await Promise.all([waiting, given]), [false, false]);
    }
  };
  await churn(1000); // so compiled code and lazily created internals are not counted as growth
  const before = heapAfterGc();
  await churn(100_000);
  const grown = heapAfterGc() - before;
  t.diagnostic(`heap growth ${mb(grown)}`);
  assert.ok(grown < 4 * MB, `heap grew by ${mb(grown)} after 200k ended waits on a quiet stream`);
  stream.publish(value(1));
  stream.close();
});
