import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideAppend } from '../../src/engine/decide.js';
import { visibleRange, type LifecycleChange } from '../../src/engine/lifecycle.js';
import {
  applyEvent,
  forgetPositionsBelow,
  newEngineState,
  positionOf,
  settleState,
  truncateState,
  type EngineState,
  type GoneFloors,
} from '../../src/engine/state.js';
import { countAt, positionAt } from '../../src/engine/stream-state.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/engine/checkpoint.js';

const limits = { maxCount: 1000, maxAgeMs: 60_000 };

/** Decides and applies a one-event append, as the leader does; returns the decision. */
function write(
  state: EngineState,
  stream: string,
  options: {
    lifecycle?: LifecycleChange;
    gone?: GoneFloors;
    expected?: number | 'any';
    expectedOf?: string;
    erases?: boolean;
  } = {},
): ReturnType<typeof decideAppend> {
  const decision = decideAppend(state, [
    {
      stream,
      expected: options.expected ?? 'any',
      ids: [{ id: undefined, idGenerated: true }],
      expectedOf: options.expectedOf,
      erases: options.erases,
    },
  ]);
  if (decision.kind !== 'write') return decision;
  const plan = decision.appends[0]!;
  applyEvent(state, {
    stream,
    index: plan.index,
    position: plan.position,
    id: undefined,
    idGenerated: true,
    timestamp: 0,
    lifecycle: options.lifecycle,
    gone: options.gone,
  });
  return decision;
}

describe('engine: stream lifecycles', () => {
  it('a truncated metadata change is taken back; a settled one stays', () => {
    const state = newEngineState(limits);
    write(state, 's');
    write(state, '$$s', { lifecycle: { kind: 'metadata', metadata: { maxCount: 5 } } });
    settleState(state, 1);
    write(state, '$$s', { lifecycle: { kind: 'tombstone' } });
    assert.equal(state.lifecycles.latest('s')?.tombstoned, true);
    assert.equal(write(state, 's').kind, 'tombstoned');
    truncateState(state, 1); // another leader's entry replaced the tombstone
    assert.equal(state.lifecycles.latest('s')?.tombstoned, false);
    assert.deepEqual(state.lifecycles.latest('s')?.metadata, { maxCount: 5 });
    assert.equal(write(state, 's').kind, 'write');
  });

  it('readers see the version as of their mark, not an uncommitted one', () => {
    const state = newEngineState(limits);
    write(state, 's');
    write(state, '$$s', { lifecycle: { kind: 'delete' } });
    assert.equal(state.lifecycles.at('s', 0), undefined);
    assert.equal(state.lifecycles.at('s', 1)?.metadata.truncateBefore, 1);
  });

  it('a soft delete hides the count as it was at the delete, in log order', () => {
    const state = newEngineState(limits);
    write(state, 's');
    write(state, 's');
    write(state, '$$s', { lifecycle: { kind: 'delete' }, expected: 2, expectedOf: 's' });
    write(state, 's');
    assert.equal(state.lifecycles.latest('s')?.metadata.truncateBefore, 2);
  });

  it("a delete's expected count is the deleted stream's, and a conflict names that stream", () => {
    const state = newEngineState(limits);
    write(state, 's');
    const decision = write(state, '$$s', { lifecycle: { kind: 'delete' }, expected: 0, expectedOf: 's' });
    assert.equal(decision.kind, 'conflict');
    assert.equal(decision.kind === 'conflict' && decision.stream, 's');
    assert.equal(decision.kind === 'conflict' && decision.actual, 1);
    assert.equal(decision.kind === 'conflict' && decision.retryOf, undefined);
  });

  it('a checkpoint keeps the versions as of its position only', () => {
    const state = newEngineState(limits);
    write(state, 's');
    write(state, '$$s', { lifecycle: { kind: 'metadata', metadata: { truncateBefore: 1, custom: { a: [1] } } } });
    write(state, '$$t', { lifecycle: { kind: 'tombstone', erase: true } });
    const loaded = decodeCheckpoint(encodeCheckpoint(state, 1), limits);
    assert.deepEqual(loaded.lifecycles.latest('s'), {
      position: 1,
      metadata: { truncateBefore: 1, custom: { a: [1] } },
      tombstoned: false,
      goneBefore: 0,
      erased: false,
    });
    assert.equal(loaded.lifecycles.latest('t'), undefined, 'beyond the checkpoint');
    const all = encodeCheckpoint(state);
    assert.deepEqual(decodeCheckpoint(all, limits).lifecycles.latest('t'), {
      position: 2,
      metadata: {},
      tombstoned: true,
      goneBefore: Number.MAX_SAFE_INTEGER,
      erased: true,
    });
    const version3 = Buffer.from(encodeCheckpoint(newEngineState(limits)).subarray(0, -4)); // no lifecycle count
    version3[0] = 3; // (no stream: the first-index field of version 5 does not show)
    assert.equal(decodeCheckpoint(version3, limits).lifecycles.size, 0);
  });
});

describe('engine: memory of what can never be read again', () => {
  it('a settled tombstone frees the stream positions; the count stays and a truncation before settling keeps them', () => {
    const state = newEngineState(limits);
    for (let i = 0; i < 100; i++) write(state, 'big');
    write(state, '$$big', { lifecycle: { kind: 'tombstone' } });
    truncateState(state, 99); // the tombstone, not committed, is taken back
    settleState(state, 99);
    assert.equal(state.streams.get('big')!.first, 0, 'nothing forgotten: the tombstone never settled');
    write(state, '$$big', { lifecycle: { kind: 'tombstone' } });
    settleState(state, 100);
    const big = state.streams.get('big')!;
    assert.equal(big.count, 100);
    assert.equal(big.first, 100);
    assert.ok(big.positions.length <= 4, `${big.positions.length} positions kept`);
    assert.equal(positionOf(state, 'big', 5), undefined);
    assert.equal(countAt(big, 100), 100);
    const loaded = decodeCheckpoint(encodeCheckpoint(state), limits).streams.get('big')!;
    assert.deepEqual([loaded.count, loaded.first], [100, 100]);
  });

  it('retention: positions below the log start are forgotten, the rest still found by index and by mark', () => {
    const state = newEngineState(limits);
    for (let i = 0; i < 10; i++) write(state, i % 2 === 0 ? 'even' : 'odd');
    settleState(state, 9);
    forgetPositionsBelow(state, 6);
    const even = state.streams.get('even')!;
    assert.deepEqual([even.first, even.count], [3, 5]);
    assert.equal(positionOf(state, 'even', 2), undefined);
    assert.equal(positionOf(state, 'even', 3), 6);
    assert.equal(countAt(even, 6), 4);
    assert.equal(countAt(even, 7), 4);
    assert.equal(countAt(even, 9), 5);
    const loaded = decodeCheckpoint(encodeCheckpoint(state), limits).streams.get('even')!;
    assert.deepEqual([loaded.first, loaded.count, positionAt(loaded, 4)], [3, 5, 8]);
  });

  it('a scavenge point makes indexes gone for good: lifted metadata does not show them, a truncation takes an unsettled one back', () => {
    const state = newEngineState(limits);
    for (let i = 0; i < 10; i++) write(state, 's');
    write(state, '$$s', { lifecycle: { kind: 'metadata', metadata: { truncateBefore: 6 } } });
    write(state, '$scavenges', { gone: [['s', 4]] });
    truncateState(state, 10); // the point, not committed, is taken back
    assert.equal(state.lifecycles.latest('s')?.goneBefore, 0);
    write(state, '$scavenges', { gone: [['s', 6]] });
    settleState(state, 11);
    write(state, '$$s', { lifecycle: { kind: 'metadata', metadata: {} } });
    const lifted = state.lifecycles.latest('s')!;
    assert.deepEqual([lifted.goneBefore, lifted.metadata], [6, {}]);
    assert.equal(visibleRange(lifted, 10, 0).firstIndex, 6, 'what is gone stays hidden');
    // Nothing below the floor is read again: its positions are forgotten once it settles.
    assert.equal(state.streams.get('s')!.first, 6);
    assert.equal(positionOf(state, 's', 6), 6);
    write(state, '$scavenges', { gone: [['s', 3]] });
    assert.equal(state.lifecycles.latest('s')?.goneBefore, 6, 'a floor never goes down');
  });

  it('an erasure is the one change a tombstoned stream still takes, once', () => {
    const state = newEngineState(limits);
    write(state, 'p');
    write(state, '$$p', { lifecycle: { kind: 'tombstone' } });
    assert.equal(write(state, '$$p', { lifecycle: { kind: 'tombstone' } }).kind, 'tombstoned');
    const erase = { kind: 'tombstone', erase: true } as const;
    assert.equal(write(state, '$$p', { lifecycle: erase, erases: true }).kind, 'write');
    assert.equal(state.lifecycles.latest('p')?.erased, true);
    assert.equal(write(state, '$$p', { lifecycle: erase, erases: true }).kind, 'tombstoned');
    assert.deepEqual(settleState(state, 2), ['p'], 'the erasure settles as a tombstone');
  });
});
