import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OpenOptions } from '../../src/node/index.js';
import {
  EventTooLargeError,
  IdConflictError,
  InvalidArgumentError,
  InvalidEventError,
  InvalidExpectedError,
  InvalidStreamError,
  LogClosedError,
  WrongExpectedCountError,
  type Event,
  type EventLog,
  type TransientEvent,
} from '../../src/types/index.js';
import { eventJson } from '../../src/types/json.js';

/**
 * One suite, every EventLog: the embedded log (`open`) and a real server through `connect()`
 * (TCP and WebSocket) must behave the same, errors included. `make(options)` gives a fresh,
 * empty log whose `close()` also releases whatever backs it (the server).
 */
export type MakeLog = (options?: OpenOptions) => Promise<EventLog>;

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

export async function take<T>(iterator: AsyncIterator<T>, n: number): Promise<T[]> {
  const items: T[] = [];
  while (items.length < n) {
    const next = await iterator.next();
    if (next.done) break;
    items.push(next.value);
  }
  return items;
}

export function eventLogConformance(label: string, make: MakeLog): void {
  describe(`${label}: append and read`, () => {
    it('appends events with positions, indexes and counts, and reads them back', async () => {
      const log = await make();
      assert.deepEqual(await log.append('user-1', { type: 'Registered', data: { name: 'Ada' } }), {
        position: 0,
        index: 0,
        count: 1,
      });
      assert.deepEqual(await log.append('user-2', [{ type: 'Registered' }, { type: 'Renamed', data: { name: 'B' } }]), {
        position: 1,
        index: 0,
        count: 2,
      });
      assert.deepEqual(
        await log.append('user-1', { type: 'Renamed', data: { name: 'Ada L.' }, metadata: { by: 'admin' } }),
        { position: 3, index: 1, count: 2 },
      );
      const events = await collect(log.read('user-1'));
      assert.deepEqual(
        events.map((e) => [e.position, e.index, e.type]),
        [
          [0, 0, 'Registered'],
          [3, 1, 'Renamed'],
        ],
      );
      assert.deepEqual(eventJson(events[1]!), { name: 'Ada L.' });
      assert.deepEqual(events[1]!.metadata, { by: 'admin' });
      assert.equal(events[0]!.contentType, 'json');
      assert.match(events[0]!.id, /^[0-9a-f-]{36}$/);
      assert.equal(typeof events[0]!.timestamp, 'number');
      assert.equal(await log.count('user-1'), 2);
      assert.equal(await log.count('nobody'), 0);
      assert.equal(await log.headPosition(), 3);
      await log.close();
    });

    it('keeps binary data as the exact bytes', async () => {
      const log = await make();
      const bytes = new Uint8Array([0, 255, 1, 254, 7]);
      await log.append('bin', { type: 'Blob', data: bytes });
      const [event] = await collect(log.read('bin'));
      assert.equal(event!.contentType, 'binary');
      assert.deepEqual([...event!.data], [...bytes]);
      assert.throws(() => eventJson(event!), InvalidArgumentError);
      await log.close();
    });

    it('reads a stream forwards and backwards with from and limit', async () => {
      const log = await make();
      for (let i = 0; i < 10; i++) {
        await log.append('s', { type: 'T', data: i });
        await log.append('other', { type: 'T', data: -i });
      }
      const indexes = async (options: Parameters<typeof log.read>[1]) =>
        (await collect(log.read('s', options))).map((e) => e.index);
      assert.deepEqual(await indexes({}), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.deepEqual(await indexes({ from: 7 }), [7, 8, 9]);
      assert.deepEqual(await indexes({ from: 2, limit: 3 }), [2, 3, 4]);
      assert.deepEqual(await indexes({ backwards: true, limit: 3 }), [9, 8, 7]);
      assert.deepEqual(await indexes({ backwards: true, from: 4 }), [4, 3, 2, 1, 0]);
      assert.deepEqual(await indexes({ from: 50 }), []);
      assert.deepEqual(await indexes({ limit: 0 }), []);
      assert.deepEqual(
        (await collect(log.read('s'))).map((e) => eventJson(e)),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
      await log.close();
    });

    it('reads the whole log with from, limit and filters by streams, prefixes and types', async () => {
      const log = await make();
      await log.append('order-1', { type: 'Placed' });
      await log.append('user-1', { type: 'Registered' });
      await log.append('order-2', { type: 'Placed' });
      await log.append('order-1', { type: 'Shipped' });
      const positions = async (options: Parameters<typeof log.readAll>[0]) =>
        (await collect(log.readAll(options))).map((e) => e.position);
      assert.deepEqual(await positions({}), [0, 1, 2, 3]);
      assert.deepEqual(await positions({ from: 2 }), [2, 3]);
      assert.deepEqual(await positions({ limit: 2 }), [0, 1]);
      assert.deepEqual(await positions({ filter: { streams: ['order-1'] } }), [0, 3]);
      assert.deepEqual(await positions({ filter: { prefixes: ['order-'] } }), [0, 2, 3]);
      assert.deepEqual(await positions({ filter: { types: ['Placed'] } }), [0, 2]);
      assert.deepEqual(await positions({ filter: { prefixes: ['order-'], types: ['Shipped'] } }), [3]);
      assert.deepEqual(await collect(log.streams({ prefix: 'order-' })), [
        { stream: 'order-1', count: 2 },
        { stream: 'order-2', count: 1 },
      ]);
      await log.close();
    });

    it('appends atomically across streams with contiguous positions', async () => {
      const log = await make();
      await log.append('a', { type: 'T' });
      const result = await log.appendMany([
        { stream: 'a', expected: 1, events: [{ type: 'A1' }, { type: 'A2' }] },
        { stream: 'b', expected: 'empty', events: [{ type: 'B0' }] },
      ]);
      assert.deepEqual(result, {
        position: 1,
        streams: [
          { stream: 'a', position: 1, index: 1, count: 3 },
          { stream: 'b', position: 3, index: 0, count: 1 },
        ],
      });
      await assert.rejects(
        log.appendMany([
          { stream: 'c', events: [{ type: 'C0' }] },
          { stream: 'b', expected: 0, events: [{ type: 'B1' }] },
        ]),
        (error: unknown) => error instanceof WrongExpectedCountError && error.stream === 'b' && error.actual === 1,
      );
      assert.equal(await log.count('c'), 0, 'a failed multi-stream append writes nothing');
      assert.equal(await log.headPosition(), 3);
      await log.close();
    });
  });

  describe(`${label}: expected counts and idempotency`, () => {
    it('optimistic concurrency: a conflict carries the actual count and writes nothing', async () => {
      const log = await make();
      await log.append('acct', { type: 'Opened' }, { expected: 'empty' });
      await log.append('acct', { type: 'Deposited' }, { expected: 1 });
      await log.append('acct', { type: 'Deposited' }, { expected: 'exists' });
      for (const expected of ['empty', 1, 5] as const) {
        await assert.rejects(log.append('acct', { type: 'Late' }, { expected }), (error: unknown) => {
          assert.ok(error instanceof WrongExpectedCountError);
          assert.equal(error.code, 'WRONG_EXPECTED_COUNT');
          assert.equal(error.actual, 3);
          assert.equal(error.expected, expected);
          assert.match(error.message, /its count is 3/);
          return true;
        });
      }
      await assert.rejects(log.append('fresh', { type: 'T' }, { expected: 'exists' }), /its count is 0/);
      assert.equal(await log.headPosition(), 2);
      await log.close();
    });

    it('of two concurrent appends with the same expected count exactly one wins', async () => {
      const log = await make();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, () => log.append('hot', { type: 'Claim' }, { expected: 0 })),
      );
      assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
      assert.equal(
        outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof WrongExpectedCountError).length,
        9,
      );
      assert.equal(await log.count('hot'), 1);
      await log.close();
    });

    it('a retried append with the same ids returns the original result and writes nothing', async () => {
      const log = await make();
      const events = [
        { id: id(1), type: 'A' },
        { id: id(2), type: 'B' },
      ];
      const first = await log.append('s', events, { expected: 0 });
      await log.append('s', { type: 'C' });
      assert.deepEqual(await log.append('s', events, { expected: 0 }), first);
      assert.deepEqual(await log.append('s', events), first, "also with expected 'any'");
      const concurrent = await Promise.all([
        log.append('t', { id: id(3), type: 'X' }),
        log.append('t', { id: id(3), type: 'X' }),
      ]);
      assert.deepEqual(concurrent[0], concurrent[1], 'a retry while the first is in flight gets the same result');
      assert.equal(await log.count('s'), 3);
      assert.equal(await log.count('t'), 1);
      await log.close();
    });

    it('an id reused for a different append is a typed conflict', async () => {
      const log = await make();
      await log.append('s', { id: id(7), type: 'A' });
      await assert.rejects(log.append('other', { id: id(7), type: 'A' }), (error: unknown) => {
        assert.ok(error instanceof IdConflictError);
        assert.equal(error.code, 'ID_CONFLICT');
        assert.deepEqual(error.existing, { stream: 's', index: 0, position: 0 });
        return true;
      });
      await log.close();
    });

    it('forgets ids for expected any after the window (count and age)', async () => {
      let now = 1_000_000;
      const log = await make({ idWindow: { maxAgeMs: 1000 }, clock: () => now });
      await log.append('s', { id: id(1), type: 'A' });
      now += 5000;
      await log.append('s', { type: 'B' }); // a later event with an explicit... generated id does not age the window
      await log.append('s', { id: id(2), type: 'C' });
      const again = await log.append('s', { id: id(1), type: 'A' });
      assert.equal(again.position, 3, 'outside the window the same id is a new event');
      await log.close();
    });
  });

  describe(`${label}: existsOrWrite`, () => {
    it('writes iff the count equals the index, else reports the event already there', async () => {
      const log = await make();
      assert.deepEqual(await log.existsOrWrite('trades', 0, { id: id(1), type: 'Trade' }), {
        position: 0,
        index: 0,
        count: 1,
        written: true,
      });
      assert.deepEqual(await log.existsOrWrite('trades', 0, { id: id(1), type: 'Trade' }), {
        position: 0,
        index: 0,
        count: 1,
        written: false,
      });
      assert.deepEqual(await log.existsOrWrite('trades', 0, { type: 'Trade' }), {
        position: 0,
        index: 0,
        count: 1,
        written: false,
      });
      await assert.rejects(
        log.existsOrWrite('trades', 5, { type: 'Trade' }),
        (error: unknown) => error instanceof WrongExpectedCountError && error.actual === 1,
      );
      await assert.rejects(log.existsOrWrite('trades', -1, { type: 'Trade' }), InvalidArgumentError);
      await log.close();
    });

    it('competing writers racing for the same index produce one event', async () => {
      const log = await make();
      const results = await Promise.all(
        Array.from({ length: 5 }, () => log.existsOrWrite('out', 0, { id: id(42), type: 'Out' })),
      );
      assert.equal(results.filter((r) => r.written).length, 1);
      assert.ok(results.every((r) => r.position === 0 && r.count === 1));
      assert.equal(await log.count('out'), 1);
      await log.close();
    });
  });

  describe(`${label}: bad input gets typed errors naming the value`, () => {
    it('rejects invalid stream names', async () => {
      const log = await make();
      for (const [stream, pattern] of [
        ['', /non-empty/],
        ['x'.repeat(257), /257 bytes long, expected at most 256/],
        ['$system', /reserved/],
        [42, /expected a string/],
      ] as const) {
        await assert.rejects(log.append(stream as string, { type: 'T' }), (error: unknown) => {
          assert.ok(error instanceof InvalidStreamError, String(error));
          assert.equal(error.code, 'INVALID_STREAM');
          assert.match(error.message, pattern);
          return true;
        });
      }
      assert.equal(await log.headPosition(), -1);
      await log.close();
    });

    it('rejects events without a type, with a non-UUID id, or too large', async () => {
      const log = await make({ maxEventBytes: 1000 });
      await assert.rejects(
        log.append('s', { data: 1 } as never),
        (e: unknown) => e instanceof InvalidEventError && e.field === 'type',
      );
      await assert.rejects(
        log.append('s', { type: '' }),
        (e: unknown) => e instanceof InvalidEventError && e.field === 'type',
      );
      await assert.rejects(
        log.append('s', { type: 'T', id: 'not-a-uuid' }),
        (e: unknown) => e instanceof InvalidEventError && e.field === 'id' && /"not-a-uuid"/.test(e.message),
      );
      await assert.rejects(
        log.append('s', { type: 'T', data: new Uint8Array(2000) }),
        (e: unknown) => e instanceof EventTooLargeError && e.size > 1000 && e.maxSize === 1000,
      );
      await assert.rejects(
        log.append('s', [
          { type: 'T', id: id(1) },
          { type: 'T', id: id(1) },
        ]),
        InvalidEventError,
      );
      await assert.rejects(log.append('s', []), InvalidArgumentError);
      await assert.rejects(
        log.append('s', { type: 'T', metadata: [] as never }),
        (e: unknown) => e instanceof InvalidEventError && e.field === 'metadata',
      );
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      await assert.rejects(log.append('s', { type: 'T', data: circular as never }), InvalidEventError);
      assert.equal(await log.headPosition(), -1, 'a failed append writes nothing');
      await log.close();
    });

    it('enforces the default maximum event size of 1 MiB', async () => {
      const log = await make();
      await log.append('s', { type: 'T', data: new Uint8Array(1024 * 1024 - 1) });
      await assert.rejects(log.append('s', { type: 'T', data: new Uint8Array(1024 * 1024) }), EventTooLargeError);
      await log.close();
    });

    it('rejects invalid expected values, acks, limits and filters', async () => {
      const log = await make();
      for (const expected of [-1, 1.5, 'sometimes', null, NaN]) {
        await assert.rejects(log.append('s', { type: 'T' }, { expected: expected as never }), (error: unknown) => {
          assert.ok(error instanceof InvalidExpectedError);
          assert.equal(error.code, 'INVALID_EXPECTED');
          assert.equal(error.expected, expected);
          return true;
        });
      }
      await assert.rejects(log.append('s', { type: 'T' }, { ack: 'all' as never }), /invalid ack "all"/);
      assert.throws(() => log.readAll({ limit: -3 }), /invalid limit -3/);
      assert.throws(() => log.readAll({ filter: { streams: 'a' } as never }), /filter.streams/);
      assert.throws(() => log.subscribe({ from: -2 }), /invalid from -2/);
      await log.close();
    });

    it('every operation on a closed log fails with LogClosedError', async () => {
      const log = await make();
      await log.close();
      await log.close(); // idempotent
      await assert.rejects(log.append('s', { type: 'T' }), LogClosedError);
      await assert.rejects(log.appendMany([{ stream: 's', events: [{ type: 'T' }] }]), LogClosedError);
      await assert.rejects(log.existsOrWrite('s', 0, { type: 'T' }), LogClosedError);
      await assert.rejects(log.publishTransient('s', { type: 'T' }), LogClosedError);
      await assert.rejects(log.readAndSubscribe('s'), LogClosedError);
      await assert.rejects(log.count('s'), LogClosedError);
      assert.throws(() => log.read('s'), LogClosedError);
      assert.throws(() => log.readAll(), LogClosedError);
      assert.throws(
        () => log.subscribe(),
        (e: unknown) => e instanceof LogClosedError && e.code === 'LOG_CLOSED',
      );
    });
  });

  describe(`${label}: subscriptions`, () => {
    it('catches up from disk, then follows live, with no gap and no duplicate', async () => {
      const log = await make();
      for (let i = 0; i < 50; i++) await log.append(`s-${i % 3}`, { type: 'T', data: i });
      const subscription = log.subscribe({ from: 10 });
      const writer = (async () => {
        for (let i = 50; i < 120; i++) await log.append(`s-${i % 3}`, { type: 'T', data: i });
      })();
      const seen = (await take(subscription, 110)) as Event[];
      await writer;
      assert.deepEqual(
        seen.map((e) => e.position),
        Array.from({ length: 110 }, (_, i) => i + 10),
      );
      assert.equal(subscription.position, 119);
      subscription.close();
      assert.deepEqual(await subscription.next(), { done: true, value: undefined });
      await log.close();
    });

    it("'end' delivers only later events; filters apply to history and live", async () => {
      const log = await make();
      await log.append('a', { type: 'Old' });
      const live = log.subscribe({ from: 'end' });
      const filtered = log.subscribe({ filter: { streams: ['b'] } });
      await log.append('b', { type: 'New' });
      await log.append('a', { type: 'New' });
      await log.append('b', { type: 'Newer' });
      assert.deepEqual(
        ((await take(live, 3)) as Event[]).map((e) => e.position),
        [1, 2, 3],
      );
      assert.deepEqual(
        ((await take(filtered, 2)) as Event[]).map((e) => e.type),
        ['New', 'Newer'],
      );
      live.close();
      filtered.close();
      await log.close();
    });

    it("'end' with minPosition starts after that position even before this node has it (read-your-writes on a follower); bad values are refused", async () => {
      const log = await make();
      await log.append('a', { type: 'Old' });
      // Position 2 is not written yet: the live tail starts after it, not at the head (1).
      const mine = log.subscribe({ from: 'end', minPosition: 2 });
      const caughtUp = log.subscribe({ from: 'end', minPosition: 0 });
      for (let i = 0; i < 4; i++) await log.append('a', { type: 'New', data: i });
      assert.deepEqual(
        ((await take(mine, 2)) as Event[]).map((e) => e.position),
        [3, 4],
      );
      assert.equal(
        ((await take(caughtUp, 1)) as Event[])[0]!.position,
        1,
        'a minPosition already committed changes nothing',
      );
      assert.throws(() => log.subscribe({ from: 'end', minPosition: -1 }), /invalid minPosition -1/);
      assert.throws(() => log.subscribe({ from: 'end', minPosition: 'x' as never }), /invalid minPosition "x"/);
      mine.close();
      caughtUp.close();
      await log.close();
    });

    it('close() of the log ends every subscription; AbortSignal ends one', async () => {
      const log = await make();
      const controller = new AbortController();
      const aborted = log.subscribe({ signal: controller.signal });
      const other = log.subscribe();
      const pendingAborted = aborted.next();
      const pendingOther = other.next();
      controller.abort();
      assert.deepEqual(await pendingAborted, { done: true, value: undefined });
      await log.append('s', { type: 'T' });
      assert.equal(((await pendingOther).value as Event).position, 0);
      const next = other.next();
      await log.close();
      assert.deepEqual(await next, { done: true, value: undefined });
    });

    it('transient events reach live subscribers that ask for them and are never stored', async () => {
      const log = await make();
      const withTransient = log.subscribe({ from: 'end', transient: true, filter: { streams: ['room-1'] } });
      const without = log.subscribe({ from: 'end' });
      await log.publishTransient('room-1', { type: 'Typing', data: { user: 'ada' } });
      await log.publishTransient('room-2', { type: 'Typing' });
      await log.append('room-1', { type: 'Said' });
      const [typing, said] = (await take(withTransient, 2)) as [TransientEvent, Event];
      assert.equal(typing.transient, true);
      assert.equal(typing.type, 'Typing');
      assert.deepEqual(eventJson(typing), { user: 'ada' });
      assert.equal(said.position, 0);
      assert.equal(((await take(without, 1))[0] as Event).position, 0);
      assert.deepEqual(await collect(log.readAll()).then((events) => events.map((e) => e.type)), ['Said']);
      await assert.rejects(log.publishTransient('', { type: 'T' }), InvalidStreamError);
      withTransient.close();
      without.close();
      await log.close();
    });

    it('readAndSubscribe gives count, history and live at one cut', async () => {
      const log = await make();
      for (let i = 0; i < 5; i++) await log.append('feed', { type: 'Item', data: i });
      await log.append('other', { type: 'Noise' });
      const { count, history, live } = await log.readAndSubscribe('feed');
      assert.equal(count, 5);
      assert.deepEqual(
        history.map((e) => e.index),
        [0, 1, 2, 3, 4],
      );
      await log.publishTransient('feed', { type: 'Typing' });
      await log.append('feed', { type: 'Item', data: 5 });
      const [typing, item] = await take(live, 2);
      assert.equal(typing!.type, 'Typing');
      assert.equal((item as Event).index, 5);
      live.close();
      await log.close();
    });

    it('a subscription to named streams catches up through the stream index, exactly their events in order', async () => {
      const log = await make();
      // 3 streams interleaved, more than one catch-up round (1024 events) for a and c.
      for (let i = 0; i < 1500; i++) {
        await log.appendMany([
          { stream: 'a', events: [{ type: i % 2 ? 'Odd' : 'Even', data: i }] },
          { stream: 'noise', events: [{ type: 'Noise' }, { type: 'Noise' }] },
          ...(i % 3 === 0 ? [{ stream: 'c', events: [{ type: 'C', data: i }] }] : []),
        ]);
      }
      const expected = (await collect(log.readAll({ filter: { streams: ['a', 'c'] } }))).map((e) => e.position);
      assert.equal(expected.length, 2000);
      const subscription = log.subscribe({ from: 7, filter: { streams: ['c', 'a'] } });
      const seen = (await take(subscription, expected.filter((p) => p >= 7).length)) as Event[];
      assert.deepEqual(
        seen.map((e) => e.position),
        expected.filter((p) => p >= 7),
      );
      const head = await log.headPosition();
      assert.equal(subscription.position, head, 'catch-up covered the log up to the mark');
      const live = subscription.next();
      await log.append('noise', { type: 'Noise' });
      await log.append('c', { type: 'C', data: 'live' });
      assert.equal(((await live).value as Event).position, head + 2, 'then follows live with no gap');
      subscription.close();
      const odd = (await take(log.subscribe({ filter: { streams: ['a'], types: ['Odd'] } }), 750)) as Event[];
      assert.deepEqual(
        odd.map((e) => eventJson(e)),
        Array.from({ length: 750 }, (_, k) => 2 * k + 1),
      );
      await log.close();
    });

    it('subscribers see the same order while many writers append concurrently', async () => {
      const log = await make();
      const subscribers = [log.subscribe(), log.subscribe(), log.subscribe({ filter: { prefixes: ['w1'] } })];
      const writers = Array.from({ length: 4 }, (_, w) =>
        (async () => {
          for (let i = 0; i < 50; i++) await log.append(`w${w}`, { type: 'T', data: i });
        })(),
      );
      await Promise.all(writers);
      const all = await Promise.all(subscribers.slice(0, 2).map((s) => take(s, 200)));
      assert.deepEqual(
        (all[0] as Event[]).map((e) => e.position),
        Array.from({ length: 200 }, (_, i) => i),
      );
      assert.deepEqual(
        (all[1] as Event[]).map((e) => e.id),
        (all[0] as Event[]).map((e) => e.id),
      );
      const w1 = (await take(subscribers[2]!, 50)) as Event[];
      assert.deepEqual(
        w1.map((e) => eventJson(e)),
        Array.from({ length: 50 }, (_, i) => i),
      );
      for (const s of subscribers) s.close();
      await log.close();
    });
  });

  describe(`${label}: durability across reopen`, () => {
    it("ack 'none' returns before the write is durable; the event is committed soon after", async () => {
      const log = await make();
      const result = await log.append('s', { type: 'T' }, { ack: 'none' });
      assert.equal(result.position, 0);
      const [event] = (await take(log.subscribe(), 1)) as Event[];
      assert.equal(event!.position, 0);
      await log.close();
    });
  });
}
