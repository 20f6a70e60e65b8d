import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryKeys } from '../../src/engine/retry-keys.js';

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
});
