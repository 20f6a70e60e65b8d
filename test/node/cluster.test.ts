import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open, type EmbeddedEventLog } from '../../src/node/index.js';
import { message } from '../../src/raft/index.js';
import { ClaimConflictError, NotLeaderError } from '../../src/types/index.js';
import { prepareEvents } from '../../src/types/validate.js';
import { MemoryNetwork } from '../support/memory-network.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

const PEERS = ['n1', 'n2', 'n3'];

async function openNode(network: MemoryNetwork, dir: string, id: string): Promise<EmbeddedEventLog> {
  const log = await open(dir, { cluster: { id, peers: PEERS, transport: network.transport(id), tickMs: 10 } });
  network.attach(id, (m) => log.deliver(m));
  return log;
}

/** Three nodes in fresh directories on `network`. */
async function startCluster(
  network: MemoryNetwork,
): Promise<{ dirs: Map<string, string>; logs: Map<string, EmbeddedEventLog> }> {
  const dirs = new Map(await Promise.all(PEERS.map(async (id) => [id, await tempDir(`ordo-${id}`)] as const)));
  const logs = new Map(
    await Promise.all(PEERS.map(async (id) => [id, await openNode(network, dirs.get(id)!, id)] as const)),
  );
  return { dirs, logs };
}

function leaderOf(logs: Map<string, EmbeddedEventLog>): EmbeddedEventLog | undefined {
  const leaders = [...logs.values()].filter((log) => !log.closed && log.raftStatus().role === 'leader');
  return leaders.length === 1 ? leaders[0] : undefined;
}

async function segmentBytes(dir: string): Promise<Buffer> {
  const names = (await readdir(join(dir, 'segments'))).filter((n) => n.endsWith('.seg')).sort();
  return Buffer.concat(await Promise.all(names.map((n) => readFile(join(dir, 'segments', n)))));
}

describe('EventLog as a Raft cluster of three (in one process, real segment files)', () => {
  it('elects a leader, replicates appends to every node, refuses writes on followers with the leader named', async () => {
    const network = new MemoryNetwork();
    const { dirs, logs } = await startCluster(network);
    const leader = await until('a leader', () => leaderOf(logs));
    const results: Array<{ position: number; index: number }> = [];
    for (let i = 0; i < 20; i++)
      results.push(await leader.append('orders', { type: 'Placed', data: { i } }, { expected: i }));
    assert.deepEqual(
      results.map((r) => r.index),
      Array.from({ length: 20 }, (_, i) => i),
    );
    const follower = [...logs.values()].find((log) => log !== leader)!;
    await assert.rejects(
      follower.append('orders', { type: 'Placed' }),
      (error: unknown) =>
        error instanceof NotLeaderError && error.code === 'NOT_LEADER' && error.leader === leader.nodeId,
    );
    // Followers learn the commit index from the next heartbeat, then read what the leader acknowledged.
    for (const log of logs.values()) {
      await until(`${log.nodeId} to commit`, () => log.committedPosition >= results[19]!.position);
      const events = [];
      for await (const event of log.read('orders')) events.push(event.index);
      assert.deepEqual(
        events,
        Array.from({ length: 20 }, (_, i) => i),
      );
    }
    // An expected-count conflict is decided by the leader against its log.
    await assert.rejects(
      leader.append('orders', { type: 'Placed' }, { expected: 3 }),
      /expected count 3 but its count is 20/,
    );
    for (const log of logs.values()) await log.close();
    // A node's directory stays that node's: opened as another node it is refused, opened
    // on its own (ordo status) it is still that node, a follower that waits for its peers.
    await assert.rejects(
      open(dirs.get('n2')!, { cluster: { id: 'n1', peers: PEERS } }),
      /holds the data of node n2, not of "n1"/,
    );
    const alone = await open(dirs.get('n2')!);
    assert.equal(alone.raftStatus().id, 'n2');
    assert.deepEqual(alone.raftStatus().config.voters, PEERS);
    await alone.close();
  });

  it('the leader stops: a new one takes over, nothing acknowledged is lost, and the old one catches up byte for byte', async () => {
    const network = new MemoryNetwork();
    const { dirs, logs } = await startCluster(network);
    const acked = new Map<string, number>();
    const first = await until('a leader', () => leaderOf(logs));
    for (let i = 0; i < 50; i++) {
      const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      const result = await first.append('s', { id, type: 'T', data: i });
      acked.set(id, result.position);
    }
    // Pipelined appends in flight while the leader goes away: some are acknowledged, some fail.
    const inflight = Array.from({ length: 50 }, (_, k) => {
      const id = `00000000-0000-4000-8000-${String(50 + k).padStart(12, '0')}`;
      return first.append('s', { id, type: 'T', data: 50 + k }).then(
        (result) => void acked.set(id, result.position),
        () => undefined,
      );
    });
    const oldId = first.nodeId;
    network.detach(oldId);
    await first.close();
    await Promise.all(inflight);
    logs.delete(oldId);
    const second = await until('a new leader', () => leaderOf(logs));
    assert.notEqual(second.nodeId, oldId);
    for (let i = 0; i < 20; i++) {
      const id = `00000000-0000-4000-8000-${String(100 + i).padStart(12, '0')}`;
      acked.set(id, (await second.append('s', { id, type: 'T', data: 100 + i })).position);
    }
    // The old leader comes back and catches up.
    const back = await openNode(network, dirs.get(oldId)!, oldId);
    logs.set(oldId, back);
    const head = second.committedPosition;
    for (const log of logs.values()) await until(`${log.nodeId} at ${head}`, () => log.committedPosition >= head);
    for (const log of logs.values()) {
      const seen = new Map<string, number>();
      for await (const event of log.readAll()) {
        assert.ok(!seen.has(event.id), `${event.id} twice on ${log.nodeId}`);
        seen.set(event.id, event.position);
      }
      for (const [id, position] of acked)
        assert.equal(seen.get(id), position, `acknowledged ${id} at ${position} on ${log.nodeId}`);
    }
    for (const log of logs.values()) await log.close();
    const [a, b, c] = await Promise.all(PEERS.map((id) => segmentBytes(dirs.get(id)!)));
    assert.ok(a!.equals(b!) && b!.equals(c!), 'the three logs are byte-identical');
  });

  it('linearizable reads (ReadIndex) on any node see every acknowledged write; a leader cut off from the quorum refuses them, local reads still answer', async () => {
    const network = new MemoryNetwork();
    const { logs } = await startCluster(network);
    const leader = await until('a leader', () => leaderOf(logs));
    const followers = [...logs.values()].filter((log) => log !== leader);
    for (let round = 0; round < 5; round++) {
      await leader.append('acct', { type: 'Deposited', data: round });
      // Straight after the ack: a follower may not have heard of the commit yet, but a
      // linearizable read through it waits for the leader's read point.
      for (const follower of followers)
        assert.equal(await follower.count('acct'), round + 1, `${follower.nodeId} after write ${round + 1}`);
      const read = [];
      for await (const event of followers[0]!.read('acct')) read.push(event.index);
      assert.equal(read.length, round + 1);
    }
    // Read-your-writes on a follower without asking the leader: wait for the position the append returned.
    const { position } = await leader.append('acct', { type: 'Deposited', data: 5 });
    const mine = [];
    for await (const event of followers[0]!.readAll({
      consistency: 'local',
      minPosition: position,
      filter: { streams: ['acct'] },
    }))
      mine.push(event.position);
    assert.equal(mine[mine.length - 1], position);
    // A follower that lags: a live subscription from 'end' with the position of our own write
    // starts after that write, not at the follower's older head.
    const lagging = followers[1]!;
    network.cut.add(lagging.nodeId);
    const behind = lagging.committedPosition;
    const ours = await leader.append('acct', { type: 'Deposited', data: 6 });
    assert.ok(lagging.committedPosition < ours.position);
    const live = lagging.subscribe({ from: 'end', minPosition: ours.position });
    network.cut.delete(lagging.nodeId);
    const theirs = await leader.append('acct', { type: 'Deposited', data: 7 });
    const first = await live.next();
    assert.equal(
      (first.value as { position: number }).position,
      theirs.position,
      `the first live event after ${behind} is the one after ours`,
    );
    live.close();
    // The leader alone: it cannot confirm it still leads, so it does not answer linearizably.
    for (const follower of followers) network.cut.add(follower.nodeId);
    network.cut.add(leader.nodeId);
    await assert.rejects(leader.count('acct'), (error: unknown) => error instanceof NotLeaderError);
    const local = [];
    for await (const event of leader.read('acct', { consistency: 'local' })) local.push(event.index);
    assert.equal(local.length, 8, 'a local read answers from what this node has');
    await assert.rejects(async () => {
      for await (const _ of leader.read('acct', { consistency: 'strong' as never })) void _;
    }, /invalid consistency "strong"/);
    for (const log of logs.values()) await log.close();
  });

  it("a leader cut off keeps uncommitted appends; after healing it truncates them, takes the new leader's log and decides against it", async () => {
    const network = new MemoryNetwork();
    const { dirs, logs } = await startCluster(network);
    const old = await until('a leader', () => leaderOf(logs));
    for (let i = 0; i < 5; i++) await old.append('acct', { type: 'Deposited', data: i }, { expected: i });
    for (const log of logs.values()) await until(`${log.nodeId} at 4`, () => log.committedPosition >= 4);
    // The leader alone: its appends go into its log but can never commit.
    network.cut.add(old.nodeId);
    const doomed = Array.from({ length: 10 }, (_, i) =>
      old.append('acct', { type: 'Lost', data: i }, { expected: 5 + i }).then(
        () => 'acknowledged',
        (error: Error) => error.constructor.name,
      ),
    );
    const rest = new Map([...logs].filter(([id]) => id !== old.nodeId));
    const next = await until('a new leader', () => leaderOf(rest));
    for (let i = 0; i < 3; i++) await next.append('acct', { type: 'Kept', data: i }, { expected: 5 + i });
    network.cut.delete(old.nodeId);
    const outcomes = await Promise.all(doomed);
    assert.ok(
      outcomes.every((o) => o !== 'acknowledged'),
      `an append the quorum never had was acknowledged: ${outcomes}`,
    );
    const head = next.committedPosition;
    for (const log of logs.values())
      await until(
        `${log.nodeId} at ${head}`,
        () => log.committedPosition >= head && log.raftStatus().lastIndex === next.raftStatus().lastIndex,
      );
    // The old leader's engine forgot its lost appends: its view of the stream is the new leader's.
    const types = [];
    for await (const event of old.read('acct', { consistency: 'local' })) types.push(event.type);
    assert.deepEqual(types, ['Deposited', 'Deposited', 'Deposited', 'Deposited', 'Deposited', 'Kept', 'Kept', 'Kept']);
    assert.equal(await old.count('acct'), 8);
    for (const log of logs.values()) await log.close();
    const [a, b, c] = await Promise.all(PEERS.map((id) => segmentBytes(dirs.get(id)!)));
    assert.ok(a!.equals(b!) && b!.equals(c!), 'the three logs are byte-identical');
    // And after a restart, too (the engine is rebuilt from the truncated log).
    const reopened = await openNode(network, dirs.get(old.nodeId)!, old.nodeId);
    const again = [];
    for await (const event of reopened.read('acct', { consistency: 'local' })) again.push(event.type);
    assert.equal(again.length, 8);
    await reopened.close();
  });

  it("claims are replicated state: a committed claim holds after failover; a cut-off leader's uncommitted release and claims are undone on every node", async () => {
    const network = new MemoryNetwork();
    const { logs } = await startCluster(network);
    const email = (value: string) => [{ set: 'email', value }];
    const old = await until('a leader', () => leaderOf(logs));
    await old.append('user-1', { type: 'Registered' }, { claims: email('ada') });
    for (const log of logs.values()) await until(`${log.nodeId} at 0`, () => log.committedPosition >= 0);
    // Cut off, the old leader accepts (never commits) a release of ada and a claim of bob.
    network.cut.add(old.nodeId);
    const doomed = [
      old.append('user-1', { type: 'Left' }, { releases: email('ada') }).catch((error: Error) => error),
      old.append('user-2', { type: 'Registered' }, { claims: email('bob') }).catch((error: Error) => error),
    ];
    const rest = new Map([...logs].filter(([id]) => id !== old.nodeId));
    const next = await until('a new leader', () => leaderOf(rest));
    await assert.rejects(
      next.append('user-3', { type: 'Registered' }, { claims: email('ada') }),
      (e: unknown) => e instanceof ClaimConflictError && e.holder.stream === 'user-1',
    );
    await next.append('user-3', { type: 'Registered' }, { claims: email('bob') });
    network.cut.delete(old.nodeId);
    for (const outcome of await Promise.all(doomed))
      assert.ok(outcome instanceof Error, `an uncommitted append was acknowledged: ${JSON.stringify(outcome)}`);
    const head = next.committedPosition;
    await until(
      `${old.nodeId} caught up`,
      () => old.committedPosition >= head && old.raftStatus().lastIndex === next.raftStatus().lastIndex,
    );
    // Leading again, the old node decides with the truncated log's claims: ada is user-1's, bob user-3's.
    next.transferLeadership(old.nodeId);
    await until(`${old.nodeId} to lead again`, () => old.raftStatus().role === 'leader' || undefined);
    await assert.rejects(
      old.append('user-4', { type: 'Registered' }, { claims: email('ada') }),
      (e: unknown) => e instanceof ClaimConflictError && e.holder.stream === 'user-1',
    );
    await assert.rejects(
      old.append('user-4', { type: 'Registered' }, { claims: email('bob') }),
      (e: unknown) => e instanceof ClaimConflictError && e.holder.stream === 'user-3',
    );
    for (const log of logs.values()) await log.close();
  });

  it("ack modes: 'quorum' waits for a majority, 'leader' for the leader's own disk, 'none' for nothing", async () => {
    const network = new MemoryNetwork();
    const { logs } = await startCluster(network);
    const leader = await until('a leader', () => leaderOf(logs));
    await leader.append('s', { type: 'T' });
    // The followers stop answering: nothing can commit any more.
    for (const log of logs.values()) if (log !== leader) network.cut.add(log.nodeId);
    let quorumDone = false;
    const quorum = leader.append('s', { type: 'Q' }, { ack: 'quorum' }).then(
      () => (quorumDone = true),
      () => undefined,
    );
    const onLeaderDisk = await leader.append('s', { type: 'L' }, { ack: 'leader' });
    const none = await leader.append('s', { type: 'N' }, { ack: 'none' });
    assert.equal(onLeaderDisk.index, 2);
    assert.equal(none.index, 3);
    assert.equal(quorumDone, false, 'a quorum append was acknowledged without a quorum');
    assert.ok(leader.committedPosition < onLeaderDisk.position, 'readers never see what is not committed');
    network.cut.clear();
    await quorum;
    // After healing, a follower may win the election (its log lacks Q, L and N) and replace
    // them: 'leader' and 'none' promise nothing beyond the leader. A quorum append is either
    // acknowledged and in every log, or refused and in none.
    const next = await until('a leader after healing', () => leaderOf(logs));
    const marker = await next.append('s', { type: 'M' });
    for (const log of logs.values())
      await until(`${log.nodeId} to catch up`, () => log.committedPosition >= marker.position);
    for (const log of logs.values()) {
      const types = [];
      for await (const event of log.read('s', { consistency: 'local' })) types.push(event.type);
      assert.equal(
        types.includes('Q'),
        quorumDone,
        `${log.nodeId}: ${types.join(',')} (quorum append ${quorumDone ? 'acknowledged' : 'refused'})`,
      );
    }
    for (const log of logs.values()) await log.close();
  });

  it('a re-sent append that finds its original uncommitted on a leader about to be deposed is not acknowledged when another entry takes that position (chaos seed 1)', async () => {
    const network = new MemoryNetwork();
    const { logs } = await startCluster(network);
    const old = await until('a leader', () => leaderOf(logs));
    for (let i = 0; i < 3; i++) await old.append('s', { type: 'T', data: i });
    for (const log of logs.values()) await until(`${log.nodeId} at 2`, () => log.committedPosition >= 2);
    network.cut.add(old.nodeId);
    const id = '00000000-0000-4000-8000-00000000abcd';
    const first = old.append('s', { id, type: 'Mine' }).then(
      (r) => r.position,
      (e: Error) => e.constructor.name,
    );
    // The client lost its connection and re-sent the request: the leader finds the id in its engine.
    const request = {
      parts: [{ stream: 's', expected: 'any' as const, events: prepareEvents([{ id, type: 'Mine' }], 1024 * 1024) }],
      ack: 'quorum' as const,
      resent: true,
    };
    const resent = old.write([request]).then(
      ([o]) => (o instanceof Error ? o.constructor.name : o!.parts[0]!.position),
      (e: Error) => e.constructor.name,
    );
    const rest = new Map([...logs].filter(([nodeId]) => nodeId !== old.nodeId));
    const next = await until('a new leader', () => leaderOf(rest));
    const theirs = await next.append('s', { type: 'Theirs' });
    assert.equal(theirs.position, 3, 'the new leader wrote at the position the old one had planned');
    network.cut.delete(old.nodeId);
    const outcomes = await Promise.all([first, resent]);
    assert.deepEqual(
      outcomes,
      ['NotLeaderError', 'NotLeaderError'],
      'neither the append nor its re-sent copy is acknowledged: position 3 holds another event',
    );
    await until(`${old.nodeId} at 3`, () => old.committedPosition >= 3);
    const types = [];
    for await (const event of old.read('s', { consistency: 'local' })) types.push(event.type);
    assert.deepEqual(types, ['T', 'T', 'T', 'Theirs']);
    for (const log of logs.values()) await log.close();
  });

  it("a deposed leader answers its pending appends NOT_LEADER as soon as the new leader's log replaces them, even when nobody writes there (chaos seed 7, 5 nodes)", async () => {
    const network = new MemoryNetwork();
    const { logs } = await startCluster(network);
    const old = await until('a leader', () => leaderOf(logs));
    await old.append('s', { type: 'T' });
    for (const log of logs.values()) await until(`${log.nodeId} at 0`, () => log.committedPosition >= 0);
    network.cut.add(old.nodeId);
    // Three appends in three entries (three turns), none of which can commit.
    const pending: Array<Promise<string>> = [];
    for (let i = 0; i < 3; i++) {
      pending.push(
        old.append('s', { type: 'Doomed', data: i }).then(
          () => 'acknowledged',
          (e: Error) => e.constructor.name,
        ),
      );
      await new Promise((resolve) => setImmediate(resolve));
    }
    const rest = new Map([...logs].filter(([id]) => id !== old.nodeId));
    await until('a new leader', () => leaderOf(rest));
    network.cut.delete(old.nodeId);
    const healed = Date.now();
    const answered = await Promise.race([
      Promise.all(pending),
      new Promise<string>((resolve) => setTimeout(() => resolve('no answer within 5 s'), 5_000).unref()),
    ]);
    assert.deepEqual(answered, ['NotLeaderError', 'NotLeaderError', 'NotLeaderError']);
    assert.ok(Date.now() - healed < 3_000, `answered ${Date.now() - healed} ms after healing`);
    for (const log of logs.values()) await log.close();
  });

  it('a leader deposed while its own write of a proposal is in flight answers it NOT_LEADER and keeps running: nobody waits for that write, and its rejection must not be unhandled (chaos: a leader resumed after SIGSTOP exited, and a later membership removal left a two-voter config with it dead)', async () => {
    const network = new MemoryNetwork();
    const { logs } = await startCluster(network);
    const old = await until('a leader', () => leaderOf(logs));
    await old.append('s', { type: 'T' });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      network.cut.add(old.nodeId);
      const { term, lastIndex } = old.raftStatus();
      // A quorum append (the default ack): nobody but the replicator waits for the leader's own write of it.
      const doomed = old.append('s', { type: 'Doomed' }).then(
        () => 'acknowledged',
        (e: Error) => e.constructor.name,
      );
      // Once it is in the leader's Raft log, and before the Ready loop has written it, a newer
      // leader's heartbeat deposes this one: the same Ready carries the entry and the step-down.
      while (old.raftStatus().lastIndex === lastIndex) await Promise.resolve();
      const other = PEERS.find((id) => id !== old.nodeId)!;
      old.deliver(message({ type: 'heartbeat', from: other, to: old.nodeId, term: term + 1 }));
      assert.equal(await doomed, 'NotLeaderError');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(
        unhandled.map((reason) => String(reason)),
        [],
        'no promise of the deposed leader was rejected unhandled (the process would exit)',
      );
      assert.equal(old.closed, false);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      network.cut.delete(old.nodeId);
      for (const log of logs.values()) await log.close();
    }
  });
});
