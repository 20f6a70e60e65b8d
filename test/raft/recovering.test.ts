import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStorage, RawNode, seededRandom, message, type NodeId } from '../../src/raft/index.js';
import { TestCluster } from './harness.js';

const VOTERS = ['a', 'b', 'c'];

/**
 * Restarts `id` as if its disk lost every entry after `keep` although it had persisted them:
 * a new storage with the first entries only, and its hard state marked recovering (or not,
 * for the variant that shows what the mark prevents).
 */
function restartWithLostTail(c: TestCluster, id: NodeId, keep: number, marked: boolean): void {
  const old = c.storages.get(id)!;
  const storage = new MemoryStorage({ voters: VOTERS, learners: [] });
  if (keep > 0) storage.append(old.entries(1, keep + 1, Number.MAX_SAFE_INTEGER));
  const commit = Math.min(old.hardState.commit, keep);
  storage.hardState = { ...old.hardState, commit, ...(marked ? { recovering: 'lost entries in a test' } : {}) };
  c.storages.set(id, storage);
  c.nodes.set(id, new RawNode({ id, storage, random: seededRandom(7) }));
}

/** Leaders among the nodes that are up (a cut node still believes what it did when it went down). */
function liveLeaders(c: TestCluster): NodeId[] {
  return c.leaders().filter((id) => !c.cut.has(id));
}

/** The texts a node's log holds, in order (its committed entries with data). */
function logTexts(c: TestCluster, id: NodeId): string[] {
  const storage = c.storages.get(id)!;
  return storage
    .entries(storage.firstIndex(), storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER)
    .filter((e) => e.kind === 'normal' && e.data.byteLength > 0)
    .map((e) => new TextDecoder().decode(e.data));
}

/**
 * Three nodes; `c` is down while `a` (leader) and `b` commit five entries; then `a` dies, `b`
 * loses those five from its disk and restarts, and `c` comes back. Returns the cluster after
 * `b` and `c` had time for elections, with `a` still down.
 */
function lostQuorumTail(marked: boolean): { c: TestCluster; keep: number } {
  const c = new TestCluster(VOTERS);
  c.elect('a');
  c.propose('a', 'before');
  c.cut.add('c');
  for (let i = 1; i <= 5; i++) c.propose('a', `acknowledged ${i}`);
  assert.equal(c.node('a').status().commit, c.storages.get('b')!.lastIndex(), 'b holds and a committed all five');
  const keep = c.storages.get('b')!.lastIndex() - 5;
  c.cut.delete('c');
  c.cut.add('a');
  restartWithLostTail(c, 'b', keep, marked);
  c.tickAll(60);
  return { c, keep };
}

describe('raft: a node that lost persisted entries recovers without voting', () => {
  it('grants no vote and no pre-vote, and never campaigns, not even for a transfer', () => {
    // Given a recovering node
    const storage = new MemoryStorage({ voters: VOTERS, learners: [] });
    storage.hardState = { term: 1, vote: '', commit: 0, recovering: 'lost entries in a test' };
    const node = new RawNode({ id: 'b', storage, random: seededRandom(1) });
    // When it is asked for votes, times out, and is told to take over
    node.step(message({ type: 'pre-vote', from: 'c', to: 'b', term: 2, index: 9, logTerm: 1 }));
    node.step(message({ type: 'vote', from: 'c', to: 'b', term: 2, index: 9, logTerm: 1 }));
    for (let i = 0; i < 50; i++) node.tick();
    node.step(message({ type: 'timeout-now', from: 'a', to: 'b', term: 2 }));
    // Then every answer is a refusal and it sent no request of its own
    const sent = node.ready().messages;
    const answers = sent.filter((m) => m.type === 'vote-response' || m.type === 'pre-vote-response');
    assert.equal(answers.length, 2);
    assert.ok(answers.every((m) => m.reject));
    assert.deepEqual(
      sent.filter((m) => m.type === 'vote' || m.type === 'pre-vote'),
      [],
    );
    assert.equal(node.status().role, 'follower');
  });

  it('acknowledged entries survive: the recovering node does not help elect a leader without them', () => {
    // Given five entries committed on a and b only, a dead, b lost them and restarted recovering
    const { c } = lostQuorumTail(true);
    // Then b and c elect nobody (b refuses its vote; c alone is no quorum)
    assert.deepEqual(liveLeaders(c), []);
    // When a comes back
    c.cut.delete('a');
    c.tickAll(60);
    // Then a leads again with every acknowledged entry, b has them back, and b's mark is cleared
    const expected = [
      'before',
      'acknowledged 1',
      'acknowledged 2',
      'acknowledged 3',
      'acknowledged 4',
      'acknowledged 5',
    ];
    assert.deepEqual(c.leaders(), ['a']);
    for (const id of VOTERS) assert.deepEqual(logTexts(c, id).slice(0, 6), expected, `node ${id}`);
    assert.equal(c.storages.get('b')!.hardState.recovering, undefined);
    assert.equal(c.node('b').hardState().recovering, undefined);
  });

  it('without the mark, the two nodes elect a leader and the acknowledged entries are gone', () => {
    // Given the same history, but b restarted without the recovering mark
    const { c } = lostQuorumTail(false);
    // Then b and c elect a leader whose log lacks what a acknowledged to its clients
    assert.equal(liveLeaders(c).length, 1);
    const leader = liveLeaders(c)[0]!;
    c.propose(leader, 'after');
    assert.ok(!logTexts(c, leader).includes('acknowledged 1'));
  });

  it('a leader that stays up re-sends what a follower lost, although it had recorded it as matched', () => {
    // Given a leader a whose followers hold five entries
    const c = new TestCluster(VOTERS);
    c.elect('a');
    for (let i = 1; i <= 5; i++) c.propose('a', `entry ${i}`);
    const last = c.storages.get('a')!.lastIndex();
    // When b restarts having lost its last three entries, and the leader keeps going
    restartWithLostTail(c, 'b', last - 3, true);
    c.propose('a', 'entry 6');
    c.tickAll(5);
    // Then b holds the leader's whole log again, and is no longer recovering
    assert.deepEqual(logTexts(c, 'b'), logTexts(c, 'a'));
    assert.equal(c.node('b').hardState().recovering, undefined);
    assert.equal(c.leaders()[0], 'a');
  });
});
