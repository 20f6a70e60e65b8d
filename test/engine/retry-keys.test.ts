import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryKeys } from '../../src/engine/retry-keys.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/engine/checkpoint.js';
import { applyEvent, newEngineState } from '../../src/engine/state.js';

const key = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('engine: retry keys', () => {
  it('finds a key with its append’s place, across ring growth', () => {
    const keys = new RetryKeys({ maxCount: 10_000, maxAgeMs: 60_000 });
    for (let i = 0; i < 5000; i++) keys.add(key(i), `s-${i % 3}`, i, 100 + i, 1_000);
    assert.equal(keys.size, 5000);
    assert.deepEqual(keys.find(key(1234)), {
      id: key(1234),
      stream: 's-1',
      index: 1234,
      position: 1334,
      timestamp: 1_000,
    });
    assert.equal(keys.find(key(99_999)), undefined);
  });

  it('forgets the oldest keys beyond the count and the age, in event time', () => {
    const keys = new RetryKeys({ maxCount: 3, maxAgeMs: 1000 });
    for (let i = 0; i < 5; i++) keys.add(key(i), 's', i, i, 10_000);
    assert.equal(keys.size, 3);
    assert.equal(keys.find(key(1)), undefined, 'beyond the count');
    assert.ok(keys.find(key(4)));
    keys.add(key(5), 's', 5, 5, 11_500);
    assert.equal(keys.size, 1, 'keys more than 1000 ms older than the newest are gone');
    assert.ok(keys.find(key(5)));
  });

  it('truncateAfter forgets keys of events beyond the position', () => {
    const keys = new RetryKeys({ maxCount: 100, maxAgeMs: 60_000 });
    for (let i = 0; i < 10; i++) keys.add(key(i), 's', i, i, 1);
    keys.truncateAfter(6);
    assert.equal(keys.size, 7);
    assert.equal(keys.find(key(7)), undefined);
    assert.ok(keys.find(key(6)));
    keys.add(key(7), 's', 7, 7, 2);
    assert.equal(keys.find(key(7))?.position, 7);
  });

  it('a checkpoint carries the keys of the events it covers, and a version 2 checkpoint loads with none', () => {
    const limits = { maxCount: 1000, maxAgeMs: 60_000 };
    const state = newEngineState(limits);
    for (let i = 0; i < 4; i++)
      applyEvent(state, {
        stream: 's',
        index: i,
        position: i,
        id: key(i),
        idGenerated: false,
        retryKey: i % 2 === 0,
        timestamp: 5,
      });
    const loaded = decodeCheckpoint(encodeCheckpoint(state, 2), limits);
    assert.deepEqual(loaded.keys.entriesUpTo(10), [
      { id: key(0), stream: 's', index: 0, position: 0, timestamp: 5 },
      { id: key(2), stream: 's', index: 2, position: 2, timestamp: 5 },
    ]);
    assert.equal(loaded.ids.get(key(1))?.position, 1, 'writer ids stay in the id window');
    const withoutKeys = encodeCheckpoint(newEngineState(limits));
    const version2 = Buffer.from(withoutKeys.subarray(0, withoutKeys.length - 8)); // no u32 key and lifecycle counts
    version2[0] = 2;
    assert.equal(decodeCheckpoint(version2, limits).keys.size, 0);
  });
});
