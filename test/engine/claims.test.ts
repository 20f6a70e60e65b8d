import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClaimTable } from '../../src/engine/claims.js';
import { decideAppend } from '../../src/engine/decide.js';
import { applyEvent, newEngineState, settleState, truncateState, type EngineState } from '../../src/engine/state.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/engine/checkpoint.js';
import {
  decodeClaimChanges,
  encodeClaimChanges,
  validateClaimChanges,
  type ClaimChanges,
} from '../../src/types/claims.js';
import { InvalidArgumentError } from '../../src/types/errors.js';

const limits = { maxCount: 1000, maxAgeMs: 60_000 };
const email = (value: string) => ({ set: 'email', value });
const changes = (claims: string[], releases: string[] = []): ClaimChanges => ({
  claims: claims.map(email),
  releases: releases.map(email),
});

/** Decides and applies a one-event append with claim changes, as the log does; returns the decision kind. */
function append(state: EngineState, stream: string, claims: ClaimChanges): string {
  const decision = decideAppend(state, [
    { stream, expected: 'any', ids: [{ id: undefined, idGenerated: true }], claims },
  ]);
  if (decision.kind === 'write') {
    const plan = decision.appends[0]!;
    applyEvent(state, {
      stream,
      index: plan.index,
      position: plan.position,
      id: undefined,
      idGenerated: true,
      timestamp: 0,
      claims,
    });
  }
  return decision.kind;
}

const held = (table: ClaimTable, at: number) =>
  table
    .heldAt(at)
    .map((c) => `${c.value}@${c.stream}`)
    .sort();

describe('engine: uniqueness claims', () => {
  it('a second stream cannot claim a held value, nor release it; its holder can do both', () => {
    const state = newEngineState(limits);
    assert.equal(append(state, 'user-1', changes(['ada@x'])), 'write');
    const refused = decideAppend(state, [
      { stream: 'user-2', expected: 'any', ids: [{ id: undefined, idGenerated: true }], claims: changes(['ada@x']) },
    ]);
    assert.deepEqual(refused, {
      kind: 'claim-conflict',
      intent: 0,
      stream: 'user-2',
      claim: email('ada@x'),
      operation: 'claim',
      holder: { stream: 'user-1', position: 0 },
    });
    assert.equal(append(state, 'user-2', changes([], ['ada@x'])), 'claim-conflict');
    assert.equal(append(state, 'user-1', changes(['ada@x'])), 'write', 'the holder re-claiming is no conflict');
    assert.equal(state.claims.holder('email', 'ada@x')?.position, 0, 'a re-claim keeps the original claim');
    assert.equal(
      append(state, 'user-1', changes(['ada@y'], ['ada@x'])),
      'write',
      'release one, claim another, in one append',
    );
    assert.equal(append(state, 'user-2', changes(['ada@x'])), 'write', 'a released value is free');
    assert.deepEqual(held(state.claims, state.nextPosition - 1), ['ada@x@user-2', 'ada@y@user-1']);
  });

  it('parts of one appendMany see each other: two streams claiming one value in one append conflict, nothing applies', () => {
    const state = newEngineState(limits);
    const one = { id: undefined, idGenerated: true };
    const decision = decideAppend(state, [
      { stream: 'a', expected: 'any', ids: [one], claims: changes(['v']) },
      { stream: 'b', expected: 'any', ids: [one], claims: changes(['v']) },
    ]);
    assert.equal(decision.kind, 'claim-conflict');
    assert.equal(decision.kind === 'claim-conflict' && decision.intent, 1);
    assert.equal(state.claims.size, 0);
    // A release by one part frees the value for a later part of the same append.
    append(state, 'a', changes(['w']));
    const handover = decideAppend(state, [
      { stream: 'a', expected: 'any', ids: [one], claims: changes([], ['w']) },
      { stream: 'b', expected: 'any', ids: [one], claims: changes(['w']) },
    ]);
    assert.equal(handover.kind, 'write');
  });

  it('the expected count is checked before claims, and a retry by id is a duplicate, not a conflict', () => {
    const state = newEngineState(limits);
    const id = '00000000-0000-4000-8000-000000000001';
    const intent = { stream: 'u', expected: 0 as const, ids: [{ id, idGenerated: false }], claims: changes(['v']) };
    const first = decideAppend(state, [intent]);
    assert.equal(first.kind, 'write');
    applyEvent(state, {
      stream: 'u',
      index: 0,
      position: 0,
      id,
      idGenerated: false,
      timestamp: 0,
      claims: intent.claims,
    });
    assert.equal(decideAppend(state, [intent]).kind, 'duplicate');
    assert.equal(
      decideAppend(state, [{ ...intent, ids: [{ id: undefined, idGenerated: true }], stream: 'w', expected: 3 }]).kind,
      'conflict',
    );
  });

  it('truncation gives released values back to their holders and drops claims made after the cut', () => {
    const state = newEngineState(limits);
    append(state, 'a', changes(['x'])); // 0
    append(state, 'b', changes(['y'])); // 1
    settleState(state, 1);
    append(state, 'a', changes(['z'], ['x'])); // 2: a releases x, claims z
    append(state, 'c', changes(['x'])); // 3: c takes x
    assert.deepEqual(held(state.claims, 3), ['x@c', 'y@b', 'z@a']);
    assert.deepEqual(held(state.claims, 1), ['x@a', 'y@b'], 'heldAt undoes what came later without changing the table');
    truncateState(state, 2);
    assert.deepEqual(held(state.claims, 2), ['y@b', 'z@a']);
    truncateState(state, 1);
    assert.deepEqual(held(state.claims, 1), ['x@a', 'y@b']);
    assert.equal(state.claims.holder('email', 'x')?.stream, 'a');
    assert.equal(append(state, 'c', changes(['x'])), 'claim-conflict', "after the cut, x is a's again");
  });

  it('a checkpoint holds the claims as of its position, and loads them back', () => {
    const state = newEngineState(limits);
    append(state, 'a', changes(['x'])); // 0
    append(state, 'b', changes(['y'])); // 1
    append(state, 'a', changes([], ['x'])); // 2 (uncommitted)
    append(state, 'b', changes(['x'])); // 3 (uncommitted)
    settleState(state, 1);
    const loaded = decodeCheckpoint(encodeCheckpoint(state, 1), limits);
    assert.deepEqual(held(loaded.claims, 1), ['x@a', 'y@b']);
    assert.equal(loaded.claims.holder('email', 'x')?.position, 0);
    const whole = decodeCheckpoint(encodeCheckpoint(state), limits);
    assert.deepEqual(held(whole.claims, 3), ['x@b', 'y@b']);
  });

  it('a version-1 checkpoint (written before claims existed) loads with none held', () => {
    const state = newEngineState(limits);
    applyEvent(state, { stream: 's', index: 0, position: 0, id: undefined, idGenerated: true, timestamp: 0 });
    const bytes = encodeCheckpoint(state);
    // Stream 's' starts at byte 20: u16 name length, the name, f64 count, then the f64 first index
    // kept (version 5): a version 1 stream has no first index, and no claim, key or lifecycle counts.
    const firstIndexAt = 20 + 2 + 1 + 8;
    const v1 = Buffer.concat([bytes.subarray(0, firstIndexAt), bytes.subarray(firstIndexAt + 8, bytes.length - 12)]);
    v1[0] = 1;
    const loaded = decodeCheckpoint(v1, limits);
    assert.equal(loaded.nextPosition, 1);
    assert.equal(loaded.claims.size, 0);
  });

  it('claim changes round-trip through their byte encoding; bad input names the value and the limit', () => {
    const input = validateClaimChanges([{ set: 'email', value: 'ünï@x' }], [{ set: 'handle', value: 'ada' }])!;
    assert.deepEqual(decodeClaimChanges(encodeClaimChanges(input)), input);
    assert.equal(validateClaimChanges(undefined, []), undefined);
    assert.throws(
      () => validateClaimChanges([{ set: 'email' }], undefined),
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        /claims\[0\]\.value undefined: expected a non-empty string/.test(e.message),
    );
    assert.throws(
      () => validateClaimChanges('ada', undefined),
      /invalid claims "ada": expected an array of \{ set, value \}/,
    );
    assert.throws(
      () => validateClaimChanges([{ set: 'e', value: 'x'.repeat(1025) }], undefined),
      /1025 bytes long, expected at most 1024/,
    );
    const many = Array.from({ length: 33 }, (_, i) => ({ set: 'e', value: `v${i}` }));
    assert.throws(
      () => validateClaimChanges(many, undefined),
      /33 claims and 0 releases in one append: expected at most 32/,
    );
    assert.throws(() => decodeClaimChanges(new Uint8Array([9, 1, 0x61, 1, 0, 0x62])), /unknown claim op 9/);
  });
});
