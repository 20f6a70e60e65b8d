import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideAppend, type AppendIntent } from '../../src/engine/decide.js';
import { applyEvent, newEngineState, truncateState, type EngineState } from '../../src/engine/state.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/engine/checkpoint.js';
import { IdWindow } from '../../src/engine/id-window.js';

const limits = { maxCount: 1000, maxAgeMs: 60_000 };
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const generated = (n: number) => ({ id: id(900_000 + n), idGenerated: true });
const explicit = (n: number) => ({ id: id(n), idGenerated: false });

/** Applies a decided write the way the log does. */
function commit(state: EngineState, intents: AppendIntent[], timestamp = 1000): void {
  const decision = decideAppend(state, intents);
  assert.equal(decision.kind, 'write', JSON.stringify(decision));
  if (decision.kind !== 'write') return;
  intents.forEach((intent, i) => {
    const plan = decision.appends[i]!;
    intent.ids.forEach((event, k) =>
      applyEvent(state, {
        stream: intent.stream,
        index: plan.index + k,
        position: plan.position + k,
        id: event.id,
        idGenerated: event.idGenerated,
        timestamp,
      }),
    );
  });
}

describe('engine: decideAppend', () => {
  it('assigns contiguous positions and per-stream indexes, across streams in one append', () => {
    const state = newEngineState(limits);
    commit(state, [{ stream: 'a', expected: 'any', ids: [generated(1), generated(2)] }]);
    const decision = decideAppend(state, [
      { stream: 'b', expected: 'empty', ids: [generated(3)] },
      { stream: 'a', expected: 2, ids: [generated(4)] },
      { stream: 'a', expected: 3, ids: [generated(5)] },
    ]);
    assert.deepEqual(decision, {
      kind: 'write',
      appends: [
        { stream: 'b', position: 2, index: 0, count: 1 },
        { stream: 'a', position: 3, index: 2, count: 3 },
        { stream: 'a', position: 4, index: 3, count: 4 },
      ],
    });
  });

  it('checks every expected literal and reports the actual count', () => {
    const state = newEngineState(limits);
    assert.equal(decideAppend(state, [{ stream: 's', expected: 'exists', ids: [generated(1)] }]).kind, 'conflict');
    commit(state, [{ stream: 's', expected: 'empty', ids: [generated(1)] }]);
    for (const [expected, ok] of [
      ['any', true],
      ['exists', true],
      ['empty', false],
      [1, true],
      [0, false],
      [2, false],
    ] as const) {
      const decision = decideAppend(state, [{ stream: 's', expected, ids: [generated(2)] }]);
      assert.equal(decision.kind, ok ? 'write' : 'conflict', `expected ${expected}`);
      if (decision.kind === 'conflict') assert.equal(decision.actual, 1);
    }
  });

  it('a multi-stream append fails whole when any part conflicts', () => {
    const state = newEngineState(limits);
    const decision = decideAppend(state, [
      { stream: 'x', expected: 0, ids: [generated(1)] },
      { stream: 'y', expected: 5, ids: [generated(2)] },
    ]);
    assert.equal(decision.kind, 'conflict');
    assert.equal(decision.kind === 'conflict' && decision.intent, 1);
    assert.equal(state.nextPosition, 0, 'deciding changes nothing');
  });

  it('recognizes a retry of the same append by its ids and answers the original placement', () => {
    const state = newEngineState(limits);
    commit(state, [{ stream: 'o', expected: 'any', ids: [generated(1)] }]);
    commit(state, [{ stream: 'o', expected: 1, ids: [explicit(10), explicit(11)] }]);
    commit(state, [{ stream: 'o', expected: 'any', ids: [generated(2)] }]);
    for (const expected of [1, 'any'] as const) {
      assert.deepEqual(decideAppend(state, [{ stream: 'o', expected, ids: [explicit(10), explicit(11)] }]), {
        kind: 'duplicate',
        appends: [{ stream: 'o', position: 1, index: 1, count: 3 }],
      });
    }
  });

  it('refuses ids reused for a different append', () => {
    const state = newEngineState(limits);
    commit(state, [{ stream: 'o', expected: 'any', ids: [explicit(1), explicit(2)] }]);
    for (const intents of [
      [{ stream: 'o', expected: 'any' as const, ids: [explicit(2), explicit(1)] }], // another order
      [{ stream: 'other', expected: 'any' as const, ids: [explicit(1), explicit(2)] }], // another stream
      [{ stream: 'o', expected: 'any' as const, ids: [explicit(1), explicit(3)] }], // partly new
      [{ stream: 'o', expected: 5, ids: [explicit(1), explicit(2)] }], // another place
    ]) {
      const decision = decideAppend(state, intents);
      assert.equal(decision.kind, 'id-reused', JSON.stringify(intents));
    }
  });

  it('flags a conflict that may be a retry the window forgot, for the caller to check on disk', () => {
    const state = newEngineState({ maxCount: 1, maxAgeMs: 60_000 });
    commit(state, [{ stream: 'o', expected: 0, ids: [explicit(1), explicit(2)] }]);
    commit(state, [{ stream: 'p', expected: 'any', ids: [explicit(3)] }]);
    const decision = decideAppend(state, [{ stream: 'o', expected: 0, ids: [explicit(1), explicit(2)] }]);
    assert.deepEqual(decision, {
      kind: 'conflict',
      intent: 0,
      stream: 'o',
      expected: 0,
      actual: 2,
      retryOf: { index: 0 },
    });
  });
});

describe('engine: id window', () => {
  it('forgets by count and by age in event time', () => {
    const window = new IdWindow({ maxCount: 3, maxAgeMs: 100 });
    for (let i = 0; i < 5; i++) window.add({ id: id(i), stream: 's', index: i, position: i, timestamp: 1000 + i });
    assert.equal(window.size, 3);
    assert.equal(window.get(id(1)), undefined);
    assert.equal(window.get(id(4))?.position, 4);
    window.add({ id: id(9), stream: 's', index: 5, position: 5, timestamp: 1104 }); // 1003 is now older than 100 ms
    assert.deepEqual(
      window.entries().map((e) => e.position),
      [4, 5],
    );
  });
});

describe('engine: checkpoint', () => {
  it('round-trips the state as of a position, leaving out later events', () => {
    const state = newEngineState(limits);
    for (let i = 0; i < 50; i++)
      commit(state, [{ stream: `s${i % 7}`, expected: 'any', ids: [explicit(i)] }], 5000 + i);
    const restored = decodeCheckpoint(encodeCheckpoint(state, 29), limits);
    assert.equal(restored.nextPosition, 30);
    let total = 0;
    for (const [name, stream] of restored.streams) {
      const original = state.streams.get(name)!;
      total += stream.count;
      assert.deepEqual(
        [...stream.positions.subarray(0, stream.count)],
        [...original.positions.subarray(0, stream.count)],
      );
      assert.ok(stream.positions[stream.count - 1]! <= 29);
    }
    assert.equal(total, 30);
    assert.equal(restored.ids.get(id(29))?.position, 29);
    assert.equal(restored.ids.get(id(30)), undefined);
    // A restored state decides the same as the original would at that point.
    truncateState(state, 29);
    const intent = [{ stream: 's1', expected: 'any' as const, ids: [explicit(100)] }];
    assert.deepEqual(decideAppend(restored, intent), decideAppend(state, intent));
  });

  it('rejects malformed bytes', () => {
    const bytes = encodeCheckpoint(newEngineState(limits));
    assert.throws(() => decodeCheckpoint(Buffer.concat([bytes, Buffer.alloc(3)]), limits), /trailing bytes/);
    const wrongVersion = Buffer.from(bytes);
    wrongVersion[0] = 9;
    assert.throws(() => decodeCheckpoint(wrongVersion, limits), /version 9/);
  });
});

describe('engine: invariants', () => {
  it('refuses an event out of position or index order', () => {
    const state = newEngineState(limits);
    assert.throws(
      () => applyEvent(state, { stream: 's', index: 0, position: 1, id: id(1), idGenerated: true, timestamp: 0 }),
      /invariant/,
    );
    assert.throws(
      () => applyEvent(state, { stream: 's', index: 3, position: 0, id: id(1), idGenerated: true, timestamp: 0 }),
      /invariant/,
    );
  });
});
