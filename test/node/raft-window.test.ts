import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RaftWindow } from '../../src/node/raft-window.js';
import { EMPTY_DATA, encodeConfigEntry, type ConfigState, type Entry } from '../../src/raft/index.js';

const THREE: ConfigState = { voters: ['n1', 'n2', 'n3'], learners: [] };

function configEntry(index: number, config: ConfigState, node: string): Entry {
  return { term: 2, index, kind: 'config', data: encodeConfigEntry({ changes: [{ type: 'remove', node }], config }) };
}

describe('raft window: the membership a restarted node starts with', () => {
  it('is the one as of the commit index, not an uncommitted config entry after it', () => {
    // Given a node restarted with entries 1..4, committed up to 3, whose entry 4 (uncommitted)
    // removes n3, and whose entry 2 (committed) removed nobody
    const window = new RaftWindow(
      { term: 2, vote: 'n1', commit: 3 },
      { index: 0, term: 0, config: THREE, nextPosition: 0 },
    );
    const entries: Entry[] = [
      { term: 1, index: 1, kind: 'normal', data: EMPTY_DATA },
      configEntry(2, THREE, 'n4'),
      { term: 2, index: 3, kind: 'normal', data: EMPTY_DATA },
      configEntry(4, { voters: ['n1', 'n2'], learners: [] }, 'n3'),
    ];
    window.append(entries, [0, 0, 0, 0]);
    // When Raft asks for its initial state
    const { config } = window.initialState();
    // Then the removal is not in force: it takes effect only when entry 4 is applied, and a
    // new leader may replace entry 4 without it ever being applied
    assert.deepEqual(config, THREE);
  });

  it('includes a config entry at or before the commit index', () => {
    const window = new RaftWindow(
      { term: 2, vote: 'n1', commit: 2 },
      { index: 0, term: 0, config: THREE, nextPosition: 0 },
    );
    const two = { voters: ['n1', 'n2'], learners: [] };
    window.append([{ term: 1, index: 1, kind: 'normal', data: EMPTY_DATA }, configEntry(2, two, 'n3')], [0, 0]);
    assert.deepEqual(window.initialState().config, two);
  });
});
