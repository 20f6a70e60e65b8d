import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStorage, ProposalDroppedError, RawNode, seededRandom, message } from '../../src/raft/index.js';
import { TestCluster } from './harness.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('raft: elections', () => {
  it('a single voter elects itself at once and commits its own proposals after persisting them', () => {
    const c = new TestCluster(['a']);
    c.elect('a');
    assert.equal(c.node('a').status().role, 'leader');
    const at = c.propose('a', 'x');
    assert.deepEqual(c.applied.get('a'), [{ index: at.index, term: 1, data: 'x' }]);
  });

  it('three nodes: a campaign with pre-vote wins term 1; the others follow it', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    assert.deepEqual(c.leaders(), ['a']);
    assert.equal(c.node('b').status().leader, 'a');
    assert.equal(c.node('a').status().term, 1);
    const kinds = new Set(c.sent.map((m) => m.type));
    assert.ok(kinds.has('pre-vote') && kinds.has('vote'), 'pre-vote round, then the vote');
  });

  it('elects a leader by timeout alone, within two election timeouts', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.tickAll(20);
    assert.equal(c.leaders().length, 1);
  });

  it('refuses to vote for a candidate whose log is behind (§5.4.1), grants one that is up to date', () => {
    const storage = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
    storage.append([
      { term: 1, index: 1, kind: 'normal', data: text('x') },
      { term: 2, index: 2, kind: 'normal', data: text('y') },
    ]);
    storage.hardState = { term: 2, vote: 'a', commit: 2 };
    const node = new RawNode({ id: 'b', storage, random: seededRandom(1) });
    const answer = (from: string, index: number, logTerm: number): boolean => {
      node.step(message({ type: 'vote', from, to: 'b', term: 3, index, logTerm }));
      const ready = node.ready();
      storage.append(ready.entries);
      if (ready.hardState) storage.hardState = ready.hardState;
      node.advance(ready);
      const response = ready.messages.find((m) => m.type === 'vote-response')!;
      return !response.reject;
    };
    assert.equal(answer('c', 5, 1), false, 'last term 1 < our last term 2, however long');
    assert.equal(answer('c', 1, 2), false, 'same last term, shorter log');
    assert.equal(answer('c', 2, 2), true, 'same last term, same length');
    assert.equal(storage.hardState.vote, 'c', 'the vote is in the hard state handed out before the response');
  });

  it('pre-vote: a node cut off and back cannot depose a healthy leader or raise the term', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.cut.add('c');
    for (let i = 0; i < 50; i++) c.node('c').tick();
    c.settle();
    c.queue = [];
    c.cut.delete('c');
    assert.equal(c.node('c').status().term, 1, 'pre-candidates do not raise their term');
    c.tickAll(5);
    assert.deepEqual(c.leaders(), ['a']);
    assert.equal(c.node('a').status().term, 1);
  });

  it('check-quorum: a leader that hears from no quorum steps down', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.cut.add('b');
    c.cut.add('c');
    for (let i = 0; i < 25; i++) c.node('a').tick();
    c.settle();
    assert.equal(c.node('a').status().role, 'follower');
  });

  it('a stale leader learns the new term from any answer and steps down', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.cut.add('a');
    c.tickAll(40);
    const [next] = c.leaders().filter((id) => id !== 'a');
    assert.ok(next !== undefined && c.node(next).status().term >= 2);
    assert.equal(c.node('a').status().role, 'leader', 'cut off and not ticked, a still believes it leads');
    c.cut.delete('a');
    c.queue = [];
    c.node('a').tick();
    c.deliverAll();
    assert.equal(c.node('a').status().role, 'follower');
    c.tickAll(2);
    assert.equal(c.node('a').status().leader, next, 'and follows the new leader from its next heartbeat');
    assert.equal(c.node('a').status().term, c.node(next).status().term);
  });
});

describe('raft: replication', () => {
  it('commits an entry once a majority has it on disk, and every node applies it in order', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    for (const s of ['x', 'y', 'z']) c.node('a').propose(text(s));
    c.deliverAll();
    for (const id of ['a', 'b', 'c'])
      assert.deepEqual(
        c.applied.get(id)!.map((e) => e.data),
        ['x', 'y', 'z'],
      );
  });

  it('does not commit with only a minority', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.cut.add('b');
    c.cut.add('c');
    c.node('a').propose(text('x'));
    c.deliverAll();
    assert.deepEqual(c.applied.get('a'), []);
    assert.equal(c.node('a').status().commit, 1, 'only the no-op of term 1 is committed');
  });

  it('the leader counts itself only after its own write: nothing commits before advance()', () => {
    const storage = new MemoryStorage({ voters: ['a'], learners: [] });
    const node = new RawNode({ id: 'a', storage, random: seededRandom(1) });
    node.campaign();
    let ready = node.ready();
    assert.equal(ready.committedEntries.length, 0, 'the no-op is not committed before it is persisted');
    storage.append(ready.entries);
    node.advance(ready);
    ready = node.ready();
    assert.deepEqual(
      ready.committedEntries.map((e) => e.index),
      [1],
    );
    node.advance(ready);
  });

  it("a follower with a divergent tail truncates it and takes the leader's entries (fast backtracking)", () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    // a leads term 1 alone: its entries reach nobody.
    c.cut.add('b');
    c.cut.add('c');
    for (let i = 0; i < 20; i++) c.node('a').propose(text(`lost-${i}`));
    c.deliverAll();
    c.cut.clear();
    c.cut.add('a');
    c.tickAll(40);
    const [leader] = c.leaders().filter((id) => id !== 'a');
    for (let i = 0; i < 5; i++) c.node(leader!).propose(text(`kept-${i}`));
    c.deliverAll();
    c.cut.clear();
    c.queue = [];
    c.node(leader!).tick();
    c.deliverAll();
    c.tickAll(3);
    const a = c.storages.get('a')!;
    const b = c.storages.get(leader!)!;
    assert.equal(a.lastIndex(), b.lastIndex());
    for (let i = 1; i <= b.lastIndex(); i++) assert.equal(a.term(i), b.term(i), `term at ${i}`);
    assert.ok(c.applied.get('a')!.every((e) => e.data.startsWith('kept')));
    const rejections = c.sent.filter((m) => m.from === 'a' && m.type === 'append-response' && m.reject);
    assert.ok(rejections.length <= 3, `the leader found the match point in ${rejections.length} rejections, not 20`);
  });

  it('flow control: at most maxInflightMessages appends to one follower before it answers', () => {
    const c = new TestCluster(['a', 'b', 'c'], { maxInflightMessages: 4, maxMessageBytes: 1 });
    c.elect('a');
    c.sent = [];
    for (let i = 0; i < 20; i++) c.node('a').propose(text(`e${i}`));
    c.settle();
    const toB = c.queue.filter((m) => m.to === 'b' && m.type === 'append' && m.entries.length > 0);
    assert.equal(toB.length, 4);
    c.deliverAll();
    assert.equal(c.applied.get('b')!.length, 20);
  });

  it('proposals to a follower are refused with the leader named', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    assert.throws(
      () => c.node('b').propose(text('x')),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'not-leader' && e.leader === 'a',
    );
    assert.throws(
      () => c.node('a').proposeMany([]),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'empty',
    );
  });

  it('step() refuses local message types from outside', () => {
    const c = new TestCluster(['a']);
    assert.throws(() => c.node('a').step(message({ type: 'hup', from: 'x', term: 5 })), /local message type 'hup'/);
  });
});

describe('raft: reads, transfer, membership, snapshots', () => {
  it('ReadIndex: the leader answers after a quorum heartbeat, a follower through the leader', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.node('a').readIndex(7);
    c.deliverAll();
    assert.deepEqual(c.readStates.get('a'), [{ index: c.node('a').status().commit, context: 7 }]);
    c.node('b').readIndex(8);
    c.deliverAll();
    assert.deepEqual(c.readStates.get('b'), [{ index: c.node('a').status().commit, context: 8 }]);
  });

  it('ReadIndex counts only voters toward its quorum: a learner does not stand in for a voter', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd', 'e', 'f'], {}, ['a', 'b', 'c', 'd', 'e']);
    c.elect('a');
    c.propose('a', 'x');
    c.node('a').proposeConfigChange({ type: 'add-learner', node: 'f' });
    c.deliverAll();
    c.cut.add('c');
    c.cut.add('d');
    c.cut.add('e');
    c.node('a').readIndex(9);
    c.settle();
    // The heartbeats reach b and the learner f; their answers come back, the learner's first.
    const heartbeats = c.queue;
    c.queue = [];
    for (const m of heartbeats) if (!c.cut.has(m.to)) c.node(m.to).step(m);
    c.settle();
    const fromLearnerFirst = (m: { from: string }) => (m.from === 'f' ? 0 : 1);
    c.queue.sort((x, y) => fromLearnerFirst(x) - fromLearnerFirst(y));
    c.deliverAll();
    assert.deepEqual(c.readStates.get('a'), [], 'the leader, one voter and a learner are not a quorum of five voters');
    c.cut.delete('c');
    c.node('a').readIndex(10);
    c.deliverAll();
    assert.ok(
      c.readStates.get('a')!.some((read) => read.context === 10),
      'three voters are a quorum of five',
    );
  });

  it('ReadIndex: two followers whose requests carry the same context number are both answered', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    // Each node numbers its own reads from 1: the leader must tell them apart by who asked.
    c.node('b').readIndex(1);
    c.node('c').readIndex(1);
    c.deliverAll();
    const commit = c.node('a').status().commit;
    assert.deepEqual(c.readStates.get('b'), [{ index: commit, context: 1 }]);
    assert.deepEqual(c.readStates.get('c'), [{ index: commit, context: 1 }]);
  });

  it("ReadIndex: a follower does not forward a peer's read in its own name", () => {
    // Given a leader a, and a follower b that a peer still takes for the leader
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    // When c's read number 5 reaches b, and a write commits before b asks its own read number 5
    c.node('b').step(message({ type: 'read-index', from: 'c', to: 'b', context: 5 }));
    c.deliverAll();
    c.propose('a', 'y');
    c.node('b').readIndex(5);
    c.deliverAll();
    // Then b's read 5 is answered once, at a point that includes that write
    const commit = c.node('a').status().commit;
    assert.deepEqual(c.readStates.get('b'), [{ index: commit, context: 5 }]);
  });

  it('ReadIndex is not answered by a leader that cannot reach a quorum', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.cut.add('b');
    c.cut.add('c');
    c.node('a').readIndex(1);
    c.deliverAll();
    assert.deepEqual(c.readStates.get('a'), []);
  });

  it('leadership transfer: the target catches up, campaigns at once and wins; proposals wait meanwhile', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.cut.add('c');
    c.propose('a', 'x');
    c.cut.delete('c');
    c.node('a').transferLeadership('c');
    assert.throws(
      () => c.node('a').propose(text('y')),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'transferring',
    );
    c.deliverAll();
    assert.deepEqual(c.leaders(), ['c']);
    assert.equal(c.node('c').status().term, 2);
  });

  it('membership: a learner catches up without voting, is promoted, and a removed leader steps down', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd'], {}, ['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.node('a').proposeConfigChange({ type: 'add-learner', node: 'd' });
    c.deliverAll();
    assert.deepEqual(c.node('a').status().config, { voters: ['a', 'b', 'c'], learners: ['d'] });
    assert.deepEqual(
      c.node('d').status().config,
      { voters: ['a', 'b', 'c'], learners: ['d'] },
      'a new node learns the whole membership from the config entry',
    );
    assert.deepEqual(
      c.applied.get('d')!.map((e) => e.data),
      ['x'],
    );
    // A learner never campaigns.
    for (let i = 0; i < 40; i++) c.node('d').tick();
    c.settle();
    assert.equal(c.node('d').status().role, 'follower');
    c.queue = [];
    c.node('a').proposeConfigChange({ type: 'add-voter', node: 'd' });
    c.deliverAll();
    assert.deepEqual(c.node('b').status().config.voters, ['a', 'b', 'c', 'd']);
    c.node('a').proposeConfigChange({ type: 'remove', node: 'a' });
    c.deliverAll();
    assert.equal(c.node('a').status().role, 'follower');
    c.cut.add('a');
    c.tickAll(40);
    const leaders = c.leaders();
    assert.equal(leaders.length, 1);
    assert.notEqual(leaders[0], 'a');
  });

  it('one config change at a time', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd'], {}, ['a', 'b', 'c']);
    c.elect('a');
    c.node('a').proposeConfigChange({ type: 'add-learner', node: 'd' });
    assert.throws(
      () => c.node('a').proposeConfigChange({ type: 'remove', node: 'b' }),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'config-pending',
    );
  });

  it("a follower behind the leader's compacted log gets a snapshot, then the entries after it", () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.cut.add('c');
    for (let i = 0; i < 10; i++) c.node('a').propose(text(`e${i}`));
    c.deliverAll();
    const a = c.storages.get('a')!;
    a.compact(8, { voters: ['a', 'b', 'c'], learners: [] }, text('state@8'));
    c.cut.delete('c');
    c.node('a').propose(text('after'));
    c.deliverAll();
    c.tickAll(3);
    const snapshots = c.sent.filter((m) => m.type === 'snapshot' && m.to === 'c');
    assert.equal(snapshots.length, 1);
    assert.equal(c.storages.get('c')!.snapshot().index, 8);
    assert.equal(new TextDecoder().decode(c.storages.get('c')!.snapshot().data), 'state@8');
    assert.equal(c.storages.get('c')!.lastIndex(), a.lastIndex());
    assert.deepEqual(
      c.applied.get('c')!.map((e) => e.data),
      ['e7', 'e8', 'e9', 'after'].slice(-(a.lastIndex() - 8)),
    );
  });
});

describe('raft: restart', () => {
  it('a restarted node keeps its term and vote (it cannot vote twice in a term) and its log', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    const storage = c.storages.get('b')!;
    const restarted = new RawNode({ id: 'b', storage, random: seededRandom(9) });
    const status = restarted.status();
    assert.equal(status.term, 1);
    assert.equal(status.lastIndex, storage.lastIndex());
    assert.equal(storage.hardState.vote, 'a');
    // A vote request from c in term 1 is refused: b already voted for a in term 1.
    restarted.step(message({ type: 'vote', from: 'c', to: 'b', term: 1, index: 100, logTerm: 1 }));
    const ready = restarted.ready();
    assert.ok(ready.messages.some((m) => m.type === 'vote-response' && m.reject));
  });

  it('a hard state ahead of the entries on disk (torn write) is clamped, not fatal', () => {
    const storage = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
    storage.append([{ term: 1, index: 1, kind: 'normal', data: text('x') }]);
    storage.hardState = { term: 1, vote: 'a', commit: 5 };
    const node = new RawNode({ id: 'b', storage, random: seededRandom(1) });
    assert.equal(node.status().commit, 1);
  });
});
