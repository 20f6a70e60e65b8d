import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { DONE, EMPTY, EventStream, type StreamSubscription, type StreamNode } from '../../src/stream/index.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

async function drain<T>(subscription: AsyncIterable<T>): Promise<T[]> {
  const values: T[] = [];
  for await (const value of subscription) values.push(value);
  return values;
}

/** The fast path: pull() until EMPTY, await wait() only at the tail. */
async function drainFast<T>(subscription: StreamSubscription<T>): Promise<T[]> {
  const values: T[] = [];
  for (;;) {
    let value = subscription.pull();
    while (value !== EMPTY && value !== DONE) {
      values.push(value);
      value = subscription.pull();
    }
    if (value === DONE) return values;
    await subscription.wait();
  }
}

/** Settles within a few turns of the event loop, or reports that it hangs. */
async function settles<T>(promise: Promise<T>, what: string): Promise<T> {
  const hang = Symbol('hang');
  const result = await Promise.race([
    promise,
    (async () => {
      for (let i = 0; i < 10; i++) await tick();
      return hang;
    })(),
  ]);
  assert.notEqual(result, hang, `${what} did not settle`);
  return result as T;
}

function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

/** Deterministic pseudo-random burst sizes, so a failure reproduces. */
function bursts(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 16) % 300;
  };
}

describe('EventStream: ordering', () => {
  it('every subscriber sees every value published after it subscribed, in order', async () => {
    const stream = new EventStream<number>();
    const early = stream.subscribe();
    stream.publish(1);
    const late = stream.subscribe();
    stream.publish(2);
    stream.publish(3);
    const later = stream.subscribe();
    stream.publish(4);
    const last = stream.subscribe();
    stream.close();
    assert.deepEqual(await drain(early), [1, 2, 3, 4]);
    assert.deepEqual(await drain(late), [2, 3, 4]);
    assert.deepEqual(await drainFast(later), [4]);
    assert.deepEqual(await drain(last), []);
    assert.equal(stream.published, 4);
  });

  it('fast, slow and late consumers each get their whole sequence while the publisher runs', async () => {
    const stream = new EventStream<number>();
    const slow = async (subscription: StreamSubscription<number>) => {
      const values: number[] = [];
      for await (const value of subscription) {
        values.push(value);
        if (value % 97 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      return values;
    };
    const consumers = [drain(stream.subscribe()), drainFast(stream.subscribe()), slow(stream.subscribe())];
    let joined: Promise<number[]>[] = [];
    for (let i = 0; i < 2000; i++) {
      if (i === 1000) joined = [drain(stream.subscribe()), drainFast(stream.subscribe()), slow(stream.subscribe())];
      stream.publish(i);
      if (i % 50 === 0) await tick();
    }
    stream.close();
    for (const values of await Promise.all(consumers)) assert.deepEqual(values, range(0, 2000));
    for (const values of await Promise.all(joined)) assert.deepEqual(values, range(1000, 2000));
  });

  it('pull()/wait() gives the same sequence as for-await, whatever the burst sizes', async () => {
    for (const seed of [1, 2, 3]) {
      const stream = new EventStream<{ n: number }>();
      const next = bursts(seed);
      const pairs: Array<[Promise<Array<{ n: number }>>, Promise<Array<{ n: number }>>]> = [];
      let n = 0;
      for (let burst = 0; burst < 60; burst++) {
        if (burst % 20 === 0) pairs.push([drain(stream.subscribe()), drainFast(stream.subscribe())]);
        for (let k = next(); k > 0; k--) stream.publish({ n: n++ });
        await tick();
      }
      stream.close();
      for (const [iterated, pulled] of pairs) {
        const a = await iterated;
        const b = await pulled;
        assert.ok(a.length > 0, 'the subscribers saw nothing');
        assert.deepEqual(b, a, `seed ${seed}`);
        // Subscribers receive the published objects themselves, in order, with no gap.
        assert.deepEqual(
          a.map((v) => v.n),
          range(a[0]!.n, n),
        );
        assert.equal(a[a.length - 1], b[b.length - 1]);
      }
    }
  });
});

describe('EventStream: pull() and wait()', () => {
  it('pull() returns EMPTY at the tail, wait() wakes on publish and is immediate when a value is ready', async () => {
    const stream = new EventStream<string>();
    const subscription = stream.subscribe();
    assert.equal(subscription.pull(), EMPTY);
    const first = subscription.wait();
    const second = subscription.wait();
    let woken = false;
    void first.then(() => (woken = true));
    await tick();
    assert.equal(woken, false, 'wait() resolved with nothing published');
    stream.publish('a');
    stream.publish('b');
    assert.equal(await first, true);
    assert.equal(await second, true);
    assert.equal(await settles(subscription.wait(), 'wait() with a value ready'), true);
    assert.equal(subscription.pull(), 'a');
    assert.equal(subscription.pull(), 'b');
    assert.equal(subscription.pull(), EMPTY);
  });

  it('the cursor API: tail() is unready, wait(node) resolves when it is ready, nodes link the values', async () => {
    const stream = new EventStream<number>();
    const start = stream.tail();
    assert.equal(start.next, undefined);
    const ready = stream.wait(start);
    stream.publish(10);
    stream.publish(11);
    assert.equal(await ready, true);
    assert.equal(await settles(stream.wait(start), 'wait() on a ready node'), true);
    const values: number[] = [];
    let node: StreamNode<number> = start;
    for (let next = node.next; next !== undefined; next = node.next) {
      values.push(node.value!);
      node = next;
    }
    assert.deepEqual(values, [10, 11]);
    assert.equal(node, stream.tail());
    assert.equal(stream.published, 2);
    await assert.rejects(stream.wait(new EventStream<number>().tail()), /does not belong to this stream/);
  });
});

describe('EventStream: close()', () => {
  it('ends every pending iterator and wait after the values published before it', async () => {
    const stream = new EventStream<number>();
    const iterators = [stream.subscribe(), stream.subscribe(), stream.subscribe()];
    const lagging = stream.subscribe();
    const loops = iterators.map((subscription) => drain(subscription));
    const fast = stream.subscribe();
    const fastLoop = drainFast(fast);
    stream.publish(1);
    stream.publish(2);
    await tick();
    const pendingWait = stream.wait(stream.tail());
    const pendingNext = lagging.next(); // lagging has read nothing yet: 1 is ready
    stream.close();
    for (const values of await settles(Promise.all(loops), 'for-await loops after close'))
      assert.deepEqual(values, [1, 2]);
    assert.deepEqual(await settles(fastLoop, 'a pull()/wait() loop after close'), [1, 2]);
    assert.equal(await settles(pendingWait, 'stream.wait() after close'), false);
    // close() ends the sequence, it does not truncate it: a lagging subscriber still drains it.
    assert.deepEqual(await pendingNext, { done: false, value: 1 });
    assert.deepEqual(await lagging.next(), { done: false, value: 2 });
    assert.deepEqual(await lagging.next(), { done: true, value: undefined });
    assert.equal(lagging.pull(), DONE);
    assert.equal(await lagging.wait(), false);
  });

  it('publish after close throws a clear error; close is idempotent; subscribing after close ends at once', async () => {
    const stream = new EventStream<number>();
    stream.publish(1);
    assert.equal(stream.closed, false);
    stream.close();
    assert.equal(stream.closed, true);
    assert.throws(() => stream.publish(2), { name: 'Error', message: /EventStream\.publish: the stream is closed/ });
    stream.close();
    assert.equal(stream.published, 1);
    const subscription = stream.subscribe();
    assert.deepEqual(await settles(subscription.next(), 'next() on a closed stream'), { done: true, value: undefined });
    assert.equal(await stream.wait(stream.tail()), false);
  });
});

describe('EventStream: ending one subscription', () => {
  it('an AbortSignal ends only its own subscriber, and its listener is removed', async () => {
    const stream = new EventStream<number>();
    const controller = new AbortController();
    const aborted = stream.subscribe({ signal: controller.signal });
    const other = stream.subscribe();
    const otherLoop = drain(other);
    assert.equal(abortListeners(controller.signal), 1);
    const pendingNext = aborted.next();
    const pendingWait = aborted.wait();
    controller.abort();
    assert.deepEqual(await settles(pendingNext, 'next() after abort'), { done: true, value: undefined });
    assert.equal(await settles(pendingWait, 'wait() after abort'), false);
    assert.equal(abortListeners(controller.signal), 0);
    stream.publish(7);
    assert.equal(aborted.pull(), DONE);
    assert.deepEqual(await aborted.next(), { done: true, value: undefined });
    stream.publish(8);
    stream.close();
    assert.deepEqual(await otherLoop, [7, 8]);
  });

  it('an already-aborted signal ends the subscription at once, with no listener added', async () => {
    const stream = new EventStream<number>();
    const signal = AbortSignal.abort();
    const subscription = stream.subscribe({ signal });
    assert.equal(abortListeners(signal), 0);
    stream.publish(1);
    assert.equal(subscription.pull(), DONE);
    assert.deepEqual(await settles(drain(subscription), 'for-await'), []);
    assert.equal(await stream.wait(stream.tail(), signal), false);
  });

  it('one signal shared by many subscriptions keeps no listener of those that ended', async () => {
    const stream = new EventStream<number>();
    const controller = new AbortController();
    const closed = stream.subscribe({ signal: controller.signal });
    const broken = stream.subscribe({ signal: controller.signal });
    const drained = stream.subscribe({ signal: controller.signal });
    assert.equal(abortListeners(controller.signal), 3);
    closed.close();
    stream.publish(1);
    for await (const value of broken) {
      assert.equal(value, 1);
      break;
    }
    stream.close();
    assert.deepEqual(await drain(drained), [1]);
    assert.equal(abortListeners(controller.signal), 0);
  });

  it('close() on a subscription ends its pending for-await loop and releases it; the others go on', async () => {
    const stream = new EventStream<number>();
    const closing = stream.subscribe();
    const loop = drain(closing);
    const other = drain(stream.subscribe());
    stream.publish(1);
    await tick();
    closing.close();
    closing.close();
    assert.deepEqual(await settles(loop, 'a closed subscription'), [1]);
    assert.equal(closing.pull(), DONE);
    assert.equal(await closing.wait(), false);
    stream.publish(2);
    stream.close();
    assert.deepEqual(await other, [1, 2]);
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

  it('stream.wait(node, signal): an abort ends that wait only, and the listener goes on every outcome', async () => {
    const stream = new EventStream<number>();
    const tail = stream.tail();
    const aborting = new AbortController();
    const kept = new AbortController();
    const abortedWait = stream.wait(tail, aborting.signal);
    const keptWait = stream.wait(tail, kept.signal);
    const plainWait = stream.wait(tail);
    assert.equal(abortListeners(aborting.signal), 1);
    aborting.abort();
    assert.equal(await settles(abortedWait, 'an aborted wait'), false);
    assert.equal(abortListeners(aborting.signal), 0);
    stream.publish(1);
    assert.equal(await keptWait, true);
    assert.equal(await plainWait, true);
    assert.equal(abortListeners(kept.signal), 0);
    // A signal reused for many waits does not collect listeners.
    for (let i = 0; i < 20; i++) {
      const waiting = stream.wait(stream.tail(), kept.signal);
      stream.publish(i);
      assert.equal(await waiting, true);
    }
    assert.equal(abortListeners(kept.signal), 0);
  });
});
