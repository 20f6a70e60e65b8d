import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConfigChangeError,
  ProposalDroppedError,
  applyChanges,
  decodeConfigEntry,
  encodeConfigEntry,
  type Entry,
  type Message,
} from '../../src/raft/index.js';
import { TestCluster } from './harness.js';

/** The config entries a node's storage holds, as (changes, config). */
function configEntries(c: TestCluster, id: string): Array<ReturnType<typeof decodeConfigEntry>> {
  const storage = c.storages.get(id)!;
  const entries: Entry[] = storage.entries(storage.firstIndex(), storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
  return entries.filter((e) => e.kind === 'config').map((e) => decodeConfigEntry(e.data));
}

describe('raft: joint consensus', () => {
  it('a change of two voters enters a joint config and leaves it by itself with a second entry', () => {
    // Given voters a, b, c and two new nodes d, e
    const c = new TestCluster(['a', 'b', 'c', 'd', 'e'], {}, ['a', 'b', 'c']);
    c.elect('a');
    // When both are added as voters in one change
    c.node('a').proposeConfigChange([
      { type: 'add-voter', node: 'd' },
      { type: 'add-voter', node: 'e' },
    ]);
    c.deliverAll();
    // Then every node ends in the new membership, reached through the joint one
    for (const id of ['a', 'b', 'c', 'd', 'e'])
      assert.deepEqual(c.node(id).status().config, { voters: ['a', 'b', 'c', 'd', 'e'], learners: [] }, id);
    const configs = configEntries(c, 'b');
    assert.equal(configs.length, 2);
    assert.deepEqual(configs[0]!.config.votersOutgoing, ['a', 'b', 'c'], 'the first entry is joint');
    assert.deepEqual(configs[1]!.changes, [], 'the second leaves it');
    assert.equal(configs[1]!.config.votersOutgoing, undefined);
  });

  it('a single change is still made with one entry, never joint', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd'], {}, ['a', 'b', 'c']);
    c.elect('a');
    c.node('a').proposeConfigChange({ type: 'add-voter', node: 'd' });
    c.deliverAll();
    assert.deepEqual(c.node('b').status().config, { voters: ['a', 'b', 'c', 'd'], learners: [] });
    assert.equal(configEntries(c, 'b').length, 1);
  });

  it('in a joint config nothing commits without a majority of the new voters too, and new changes are refused', () => {
    // Given voters a, b, c replaced by a, d, e in one change, with d and e cut off
    const c = new TestCluster(['a', 'b', 'c', 'd', 'e'], {}, ['a', 'b', 'c']);
    c.elect('a');
    c.cut.add('d');
    c.cut.add('e');
    c.node('a').proposeConfigChange([
      { type: 'remove', node: 'b' },
      { type: 'remove', node: 'c' },
      { type: 'add-voter', node: 'd' },
      { type: 'add-voter', node: 'e' },
    ]);
    c.deliverAll();
    // Then the joint entry commits on the old majority and is in force
    assert.deepEqual(c.node('a').status().config.votersOutgoing, ['a', 'b', 'c']);
    assert.deepEqual(c.node('a').status().config.voters, ['a', 'd', 'e']);
    // When a proposal reaches a, b and c only
    c.propose('a', 'x');
    // Then it does not commit: the new voters have no majority
    assert.deepEqual(c.applied.get('a'), []);
    // And a new change is refused with a typed error until the joint config is left
    assert.throws(
      () => c.node('a').proposeConfigChange({ type: 'add-learner', node: 'b' }),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'joint-config',
    );
    // When d and e come back
    c.cut.clear();
    c.tickAll(3);
    // Then the proposal commits and the joint config is left
    assert.deepEqual(
      c.applied.get('a')!.map((e) => e.data),
      ['x'],
    );
    assert.deepEqual(c.node('a').status().config, { voters: ['a', 'd', 'e'], learners: [] });
  });

  it('an election in a joint config needs a majority of both voter sets', () => {
    // Given the joint config {a,b,c} + {a,d,e} in force on b and c, with d and e cut off
    const c = new TestCluster(['a', 'b', 'c', 'd', 'e'], {}, ['a', 'b', 'c']);
    c.elect('a');
    c.cut.add('d');
    c.cut.add('e');
    c.node('a').proposeConfigChange([
      { type: 'remove', node: 'b' },
      { type: 'remove', node: 'c' },
      { type: 'add-voter', node: 'd' },
      { type: 'add-voter', node: 'e' },
    ]);
    c.deliverAll();
    c.tickAll(2); // heartbeats carry the commit index to b and c, which apply the joint entry
    assert.deepEqual(c.node('b').status().config.votersOutgoing, ['a', 'b', 'c']);
    // When the leader is cut off too
    c.cut.add('a');
    c.tickAll(60);
    // Then b and c, a majority of the old voters only, elect nobody
    assert.deepEqual(
      c.leaders().filter((id) => id !== 'a'),
      [],
    );
    // When d and e are back
    c.cut.delete('d');
    c.cut.delete('e');
    c.tickAll(60);
    // Then a leader is elected, leaves the joint config, and the leader is one of the new voters
    const leaders = c.leaders().filter((id) => id !== 'a');
    assert.equal(leaders.length, 1);
    assert.ok(['d', 'e'].includes(leaders[0]!), `leader ${leaders[0]}`);
    assert.deepEqual(c.node(leaders[0]!).status().config, { voters: ['a', 'd', 'e'], learners: [] });
  });

  it('a leader removed by a joint change leads until the leaving entry commits, then steps down', () => {
    // Given voters a, b, c, leader a, and a change that replaces a by d; c and d cut off
    const c = new TestCluster(['a', 'b', 'c', 'd'], {}, ['a', 'b', 'c']);
    c.elect('a');
    c.cut.add('c');
    c.cut.add('d');
    c.node('a').proposeConfigChange([
      { type: 'remove', node: 'a' },
      { type: 'add-voter', node: 'd' },
    ]);
    c.deliverAll();
    // Then a, in the outgoing voters only, still leads the joint config
    assert.deepEqual(c.leaders(), ['a']);
    assert.deepEqual(c.node('a').status().config.votersOutgoing, ['a', 'b', 'c']);
    // When c and d are back, so the leaving entry commits
    c.cut.clear();
    c.tickAll(3);
    // Then a is no longer a voter and has stepped down; the others elect one of their own
    assert.deepEqual(c.node('b').status().config, { voters: ['b', 'c', 'd'], learners: [] });
    assert.equal(c.node('a').status().role, 'follower');
    c.cut.add('a');
    c.tickAll(60);
    const leaders = c.leaders();
    assert.equal(leaders.length, 1);
    assert.notEqual(leaders[0], 'a');
  });

  it('a removed leader steps down only once a quorum of the new voters knows its removal is committed', () => {
    // Given voters a, b, c, leader a, and a joint change that replaces a by d
    const c = new TestCluster(['a', 'b', 'c', 'd'], {}, ['a', 'b', 'c']);
    c.elect('a');
    const joint = c.node('a').proposeConfigChange([
      { type: 'remove', node: 'a' },
      { type: 'add-voter', node: 'd' },
    ]);
    const leaveIndex = joint.index + 1;
    // When the entry that leaves the joint config commits, but no follower hears that it did
    const carriesLeaveCommit = (m: Message) =>
      m.from === 'a' && (m.type === 'append' || m.type === 'heartbeat') && m.commit >= leaveIndex;
    c.deliverAll((m) => !carriesLeaveCommit(m));
    assert.deepEqual(c.node('a').status().config, { voters: ['b', 'c', 'd'], learners: [] });
    assert.deepEqual(c.node('b').status().config.votersOutgoing, ['a', 'b', 'c'], 'b is still joint');
    // Then a, no longer a voter, still leads (without it b and c could need its vote) but takes nothing new
    assert.deepEqual(c.leaders(), ['a']);
    assert.throws(
      () => c.propose('a', 'x'),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === 'removed',
    );
    // When its heartbeats reach the new voters
    c.tickAll(3);
    // Then a quorum of them (b and c) leaves the joint config, and only then a steps down
    for (const id of ['b', 'c'])
      assert.deepEqual(c.node(id).status().config, { voters: ['b', 'c', 'd'], learners: [] }, id);
    assert.equal(c.node('a').status().role, 'follower');
    // And the new voters elect one of their own without a
    c.cut.add('a');
    c.tickAll(60);
    const leaders = c.leaders();
    assert.equal(leaders.length, 1);
    assert.ok(['b', 'c', 'd'].includes(leaders[0]!), `leader ${leaders[0]}`);
    assert.deepEqual(c.node('d').status().config, { voters: ['b', 'c', 'd'], learners: [] });
  });

  it('a removed leader does not serve a read alone when one voter is left', () => {
    // Given voters a, b, leader a, and a change that removes a, applied on a but b not told it committed
    const c = new TestCluster(['a', 'b']);
    c.elect('a');
    c.propose('a', 'x');
    const removal = c.node('a').proposeConfigChange({ type: 'remove', node: 'a' });
    c.deliverAll((m) => !(m.from === 'a' && m.commit >= removal.index));
    assert.deepEqual(c.node('a').status().config, { voters: ['b'], learners: [] });
    assert.deepEqual(c.leaders(), ['a']);
    // When b is cut off (it may elect itself once it learns the commit) and a is asked for a read
    c.cut.add('b');
    c.node('a').readIndex(7);
    c.deliverAll();
    // Then a answers nothing: only b can confirm that a still leads
    assert.deepEqual(c.readStates.get('a'), []);
  });

  it('refuses a change that names a node twice or leaves no voter, with a typed error', () => {
    const config = { voters: ['a'], learners: [] };
    assert.throws(
      () =>
        applyChanges(config, [
          { type: 'add-voter', node: 'b' },
          { type: 'remove', node: 'b' },
        ]),
      (e: unknown) => e instanceof ConfigChangeError && e.code === 'INVALID_CONFIG_CHANGE',
    );
    assert.throws(() => applyChanges(config, [{ type: 'remove', node: 'a' }]), ConfigChangeError);
  });

  it('addresses travel in the config; an entry written before they did is still read', () => {
    const config = applyChanges({ voters: ['a'], learners: [] }, [
      { type: 'add-learner', node: 'b', address: '10.0.0.2:7001' },
    ]);
    assert.deepEqual(config.addresses, { b: '10.0.0.2:7001' });
    const removed = applyChanges(config, [{ type: 'remove', node: 'b' }]);
    assert.equal(removed.addresses, undefined, "a removed member's address goes with it");
    const old = new TextEncoder().encode(
      JSON.stringify({ change: { type: 'add-learner', node: 'b' }, config: { voters: ['a'], learners: ['b'] } }),
    );
    assert.deepEqual(decodeConfigEntry(old), {
      changes: [{ type: 'add-learner', node: 'b' }],
      config: { voters: ['a'], learners: ['b'] },
    });
    const entry = { changes: [], config: { voters: ['a'], learners: [], addresses: { a: 'h:1' } } };
    assert.deepEqual(decodeConfigEntry(encodeConfigEntry(entry)), entry);
  });
});
