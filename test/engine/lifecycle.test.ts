import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideAppend } from '../../src/engine/decide.js';
import type { LifecycleChange } from '../../src/engine/lifecycle.js';
import { applyEvent, newEngineState, settleState, truncateState, type EngineState } from '../../src/engine/state.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/engine/checkpoint.js';

const limits = { maxCount: 1000, maxAgeMs: 60_000 };

/** Decides and applies a one-event append, as the leader does; returns the decision. */
function write(
  state: EngineState,
  stream: string,
  options: { lifecycle?: LifecycleChange; expected?: number | 'any'; expectedOf?: string } = {},
): ReturnType<typeof decideAppend> {
  const decision = decideAppend(state, [
    {
      stream,
      expected: options.expected ?? 'any',
      ids: [{ id: undefined, idGenerated: true }],
      expectedOf: options.expectedOf,
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
    write(state, '$$t', { lifecycle: { kind: 'tombstone' } });
    const loaded = decodeCheckpoint(encodeCheckpoint(state, 1), limits);
    assert.deepEqual(loaded.lifecycles.latest('s'), {
      position: 1,
      metadata: { truncateBefore: 1, custom: { a: [1] } },
      tombstoned: false,
    });
    assert.equal(loaded.lifecycles.latest('t'), undefined, 'beyond the checkpoint');
    const all = encodeCheckpoint(state);
    assert.equal(decodeCheckpoint(all, limits).lifecycles.latest('t')?.tombstoned, true);
    const version3 = Buffer.from(encodeCheckpoint(newEngineState(limits)).subarray(0, -4)); // no lifecycle count
    version3[0] = 3;
    assert.equal(decodeCheckpoint(version3, limits).lifecycles.size, 0);
  });
});
