import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DONE, EMPTY, EventStream, type StreamSubscription } from '../../src/stream/index.js';

async function drain<T>(subscription: AsyncIterable<T>): Promise<T[]> {
  const values: T[] = [];
  for await (const value of subscription) values.push(value);
  return values;
}

/** Reads with the synchronous fast path: pull() until EMPTY, await wait() only at the tail. */
async function drainFast<T>(subscription: StreamSubscription<T>): Promise<T[]> {
  const values: T[] = [];
  for (;;) {
    let value = subscription.pull();
    while (value !== EMPTY && value !== DONE) {
      values.push(value);
      value = subscription.pull();
    }
    if (value === DONE || !(await subscription.wait())) {
      if (value !== DONE) {
        // wait() said false: take whatever was published before the end.
        for (let v = subscription.pull(); v !== EMPTY && v !== DONE; v = subscription.pull()) values.push(v);
      }
      return values;
    }
  }
}

describe('EventStream', () => {
  it('every subscriber sees every later value in publish order', async () => {
    const stream = new EventStream<number>();
    const early = stream.subscribe();
    stream.publish(1);
    const late = stream.subscribe();
    stream.publish(2);
    stream.publish(3);
    const fast = stream.subscribe();
    stream.publish(4);
    stream.close();
    assert.deepEqual(await drain(early), [1, 2, 3, 4]);
    assert.deepEqual(await drain(late), [2, 3, 4]);
    assert.deepEqual(await drainFast(fast), [4]);
    assert.equal(stream.published, 4);
  });

  it('fast and slow consumers each get the whole sequence while the publisher runs', async () => {
    const stream = new EventStream<number>();
    const consumers = [
      drain(stream.subscribe()),
      drainFast(stream.subscribe()),
      (async () => {
        const values: number[] = [];
        for await (const value of stream.subscribe()) {
          values.push(value);
          if (value % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 1)); // a slow one
        }
        return values;
      })(),
    ];
    for (let i = 0; i < 1000; i++) {
      stream.publish(i);
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    stream.close();
    const expected = Array.from({ length: 1000 }, (_, i) => i);
    for (const values of await Promise.all(consumers)) assert.deepEqual(values, expected);
  });

  it('pull() returns EMPTY at the tail and DONE after close, and wait() wakes on publish', async () => {
    const stream = new EventStream<string>();
    const subscription = stream.subscribe();
    assert.equal(subscription.pull(), EMPTY);
    const woken = subscription.wait();
    stream.publish('a');
    assert.equal(await woken, true);
    assert.equal(subscription.pull(), 'a');
    const ended = subscription.wait();
    stream.close();
    assert.equal(await ended, false);
    assert.equal(subscription.pull(), DONE);
  });

  it('close() ends pending iterators after the values published before it, and publish after close throws', async () => {
    const stream = new EventStream<number>();
    const subscription = stream.subscribe();
    const pending = subscription.next();
    stream.publish(1);
    assert.deepEqual(await pending, { done: false, value: 1 });
    const waiting = subscription.next();
    stream.close();
    assert.deepEqual(await waiting, { done: true, value: undefined });
    assert.throws(() => stream.publish(2), /publish after close/);
    stream.close(); // idempotent
    assert.equal(stream.closed, true);
  });

  it('an AbortSignal ends only its own subscriber', async () => {
    const stream = new EventStream<number>();
    const controller = new AbortController();
    const aborted = stream.subscribe({ signal: controller.signal });
    const other = stream.subscribe();
    const pending = aborted.next();
    controller.abort();
    assert.deepEqual(await pending, { done: true, value: undefined });
    stream.publish(7);
    assert.deepEqual(await other.next(), { done: false, value: 7 });
    assert.deepEqual(await aborted.next(), { done: true, value: undefined });
    const already = stream.subscribe({ signal: AbortSignal.abort() });
    assert.deepEqual(await already.next(), { done: true, value: undefined });
  });

  it('break out of for-await closes the subscription', async () => {
    const stream = new EventStream<number>();
    const subscription = stream.subscribe();
    stream.publish(1);
    stream.publish(2);
    for await (const value of subscription) {
      assert.equal(value, 1);
      break;
    }
    assert.equal(subscription.pull(), DONE);
  });

  it('wait() with an aborted signal removes its waiter, so aborted waits do not pile up on the tail', async () => {
    const stream = new EventStream<number>();
    const tail = stream.tail();
    for (let i = 0; i < 100; i++) {
      const controller = new AbortController();
      const waiting = stream.wait(tail, controller.signal);
      controller.abort();
      assert.equal(await waiting, false);
    }
    const waiters = (tail as unknown as { waiters?: unknown[] }).waiters;
    assert.ok(!waiters || waiters.length === 0, `waiters left on the tail: ${waiters?.length}`);
    stream.publish(1);
    assert.equal(await stream.wait(tail), true);
  });
});
