import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { open, type EmbeddedEventLog } from '../../src/node/index.js';
import type { Event } from '../../src/types/index.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * Random interleavings of appends (sequential and pipelined, single and multi-stream),
 * subscriptions from random positions, partial consumption and reopen. The property: every
 * subscriber sees exactly `log[from..]` in order, and every read agrees with the model.
 */
type Op =
  | { kind: 'append'; stream: number; size: number }
  | { kind: 'pipelined'; streams: number[] }
  | { kind: 'appendMany'; streams: number[] }
  | { kind: 'subscribe'; from: number; streams: number[] | null }
  | { kind: 'consume'; subscriber: number; count: number }
  | { kind: 'reopen' };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      stream: fc.nat(4),
      size: fc.integer({ min: 1, max: 5 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('pipelined' as const),
      streams: fc.array(fc.nat(4), { minLength: 1, maxLength: 8 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('appendMany' as const),
      streams: fc.array(fc.nat(4), { minLength: 1, maxLength: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('subscribe' as const),
      from: fc.nat(60),
      // Half the subscribers name streams: their catch-up goes through the stream index.
      streams: fc.option(fc.uniqueArray(fc.nat(4), { minLength: 1, maxLength: 3 }), { nil: null }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('consume' as const),
      subscriber: fc.nat(5),
      count: fc.integer({ min: 1, max: 20 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

interface Subscriber {
  from: number;
  /** Stream names the subscription is filtered to, or undefined for the whole log. */
  streams: string[] | undefined;
  seen: Event[];
  iterator: AsyncIterator<unknown>;
}

it('every subscriber sees exactly log[from..] (filtered to its streams) in order, across random appends, subscriptions and reopens', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArbitrary, { minLength: 5, maxLength: 40 }), async (ops) => {
      const dir = await tempDir('ordo-prop');
      const options = { fsync: 'never' as const, segmentBytes: 4096, checkpointEvery: 7 };
      let log: EmbeddedEventLog = await open(dir, options);
      const model: Array<{ id: string; stream: string }> = []; // by position
      const counts = new Map<string, number>();
      let subscribers: Subscriber[] = [];
      let serial = 0;
      const newEvent = () => ({
        id: `00000000-0000-4000-8000-${String(++serial).padStart(12, '0')}`,
        type: 'T',
        data: serial,
      });
      const record = (stream: string, ids: string[], result: { position: number; index: number }) => {
        assert.equal(result.index, counts.get(stream) ?? 0);
        ids.forEach((id, k) => (model[result.position + k] = { id, stream }));
        counts.set(stream, (counts.get(stream) ?? 0) + ids.length);
      };
      /** Positions the subscriber must see, in order: log[from..] filtered to its streams. */
      const expectedFor = (subscriber: Subscriber) =>
        model
          .map((m, position) => ({ ...m, position }))
          .slice(subscriber.from)
          .filter((m) => !subscriber.streams || subscriber.streams.includes(m.stream));
      const consume = async (subscriber: Subscriber, count: number) => {
        const available = expectedFor(subscriber).length - subscriber.seen.length;
        for (let i = 0; i < Math.min(count, available); i++) {
          const next = await subscriber.iterator.next();
          assert.equal(next.done, false);
          subscriber.seen.push(next.value as Event);
        }
      };
      const check = (subscriber: Subscriber) => {
        const expected = expectedFor(subscriber).slice(0, subscriber.seen.length);
        assert.deepEqual(
          subscriber.seen.map((e) => e.id),
          expected.map((m) => m.id),
        );
        assert.deepEqual(
          subscriber.seen.map((e) => e.position),
          expected.map((m) => m.position),
        );
      };
      try {
        for (const op of ops) {
          switch (op.kind) {
            case 'append': {
              const stream = `s${op.stream}`;
              const events = Array.from({ length: op.size }, newEvent);
              const expected = counts.get(stream) ?? 0;
              record(
                stream,
                events.map((e) => e.id),
                await log.append(stream, events, { expected }),
              );
              break;
            }
            case 'pipelined': {
              // Decided in call order, so positions follow call order.
              const calls = op.streams.map((s) => ({ stream: `s${s}`, event: newEvent() }));
              const results = await Promise.all(calls.map((c) => log.append(c.stream, c.event)));
              calls.forEach((c, i) => record(c.stream, [c.event.id], results[i]!));
              break;
            }
            case 'appendMany': {
              const parts = op.streams.map((s) => ({ stream: `s${s}`, events: [newEvent()] }));
              const result = await log.appendMany(parts);
              parts.forEach((p, i) =>
                record(
                  p.stream,
                  p.events.map((e) => e.id),
                  result.streams[i]!,
                ),
              );
              break;
            }
            case 'subscribe': {
              const from = Math.min(op.from, model.length);
              const streams = op.streams ? op.streams.map((n) => `s${n}`) : undefined;
              subscribers.push({
                from,
                streams,
                seen: [],
                iterator: log.subscribe({ from, ...(streams ? { filter: { streams } } : {}) }),
              });
              break;
            }
            case 'consume': {
              const subscriber = subscribers[op.subscriber % Math.max(1, subscribers.length)];
              if (subscriber) await consume(subscriber, op.count);
              break;
            }
            case 'reopen': {
              for (const s of subscribers) check(s);
              await log.close();
              for (const s of subscribers)
                assert.equal((await s.iterator.next()).done, true, 'closing the log ends subscriptions');
              log = await open(dir, options);
              // Resume each subscriber where it stopped, as a consumer with a checkpoint would.
              subscribers = subscribers.map((s) => {
                const last = s.seen[s.seen.length - 1];
                const from = last ? last.position + 1 : s.from;
                return {
                  from,
                  streams: s.streams,
                  seen: [],
                  iterator: log.subscribe({ from, ...(s.streams ? { filter: { streams: s.streams } } : {}) }),
                };
              });
              break;
            }
          }
        }
        assert.equal(await log.headPosition(), model.length - 1);
        for (const s of subscribers) {
          await consume(s, Number.MAX_SAFE_INTEGER);
          check(s);
          assert.equal(s.seen.length, expectedFor(s).length);
        }
        const all: Event[] = [];
        for await (const e of log.readAll()) all.push(e);
        assert.deepEqual(
          all.map((e) => e.id),
          model.map((m) => m.id),
        );
        for (const [stream, count] of counts) {
          const events: Event[] = [];
          for await (const e of log.read(stream)) events.push(e);
          assert.equal(events.length, count);
          assert.deepEqual(
            events.map((e) => e.id),
            model.filter((m) => m.stream === stream).map((m) => m.id),
          );
        }
      } finally {
        await log.close();
      }
    }),
    { numRuns: 40 },
  );
});
