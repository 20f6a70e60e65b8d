import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open, type EmbeddedEventLog, type SnapshotEvent } from '../../src/node/index.js';
import { MemoryNetwork } from '../support/memory-network.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

const PEERS = ['n1', 'n2', 'n3'];
/** A tiny in-memory window, so that a follower a few dozen entries behind needs a snapshot. */
const WINDOW_ENTRIES = 16;

async function openNode(
  network: MemoryNetwork,
  dir: string,
  id: string,
  events: SnapshotEvent[],
): Promise<EmbeddedEventLog> {
  const log = await open(dir, {
    cluster: {
      id,
      peers: PEERS,
      transport: network.transport(id),
      tickMs: 10,
      windowEntries: WINDOW_ENTRIES,
      onSnapshot: (e) => events.push(e),
    },
  });
  network.attach(id, (m) => log.deliver(m));
  return log;
}

/** Three nodes in fresh directories on `network`. */
async function startCluster(
  network: MemoryNetwork,
  events: SnapshotEvent[],
): Promise<{ dirs: Map<string, string>; logs: Map<string, EmbeddedEventLog> }> {
  const dirs = new Map(await Promise.all(PEERS.map(async (id) => [id, await tempDir(`ordo-snap-${id}`)] as const)));
  const logs = new Map(
    await Promise.all(PEERS.map(async (id) => [id, await openNode(network, dirs.get(id)!, id, events)] as const)),
  );
  return { dirs, logs };
}

function leaderOf(logs: Iterable<EmbeddedEventLog>): EmbeddedEventLog | undefined {
  const leaders = [...logs].filter((log) => !log.closed && log.raftStatus().role === 'leader');
  return leaders.length === 1 ? leaders[0] : undefined;
}

async function segmentBytes(dir: string): Promise<Buffer> {
  const names = (await readdir(join(dir, 'segments'))).filter((n) => n.endsWith('.seg')).sort();
  return Buffer.concat(await Promise.all(names.map((n) => readFile(join(dir, 'segments', n)))));
}

/** Closes every node, then checks that the three logs are byte-identical. */
async function closeAllAndCompare(logs: Map<string, EmbeddedEventLog>, dirs: Map<string, string>): Promise<void> {
  for (const log of logs.values()) await log.close();
  const [a, b, c] = await Promise.all(PEERS.map((id) => segmentBytes(dirs.get(id)!)));
  assert.ok(a!.equals(b!) && b!.equals(c!), 'the three logs are byte-identical');
}

async function allIds(log: EmbeddedEventLog): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for await (const event of log.readAll({ consistency: 'local' })) {
    assert.ok(!seen.has(event.id), `${event.id} twice on ${log.nodeId}`);
    seen.set(event.id, event.position);
  }
  return seen;
}

async function stagingFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.staging'));
}

const idOf = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

/** Events of about 8 KiB, so a few hundred make a transfer of several 1 MiB chunks. */
const payload = (i: number) => ({ i, pad: 'x'.repeat(8 * 1024) });

describe("snapshot install: a follower behind the leader's window pulls the segments it lacks", () => {
  it('a follower that was down catches up by snapshot: same bytes, same engine state, and it can lead', async () => {
    const network = new MemoryNetwork();
    const events: SnapshotEvent[] = [];
    const { dirs, logs } = await startCluster(network, events);
    const leader = await until('a leader', () => leaderOf(logs.values()));
    const acked = new Map<string, number>();
    for (let i = 0; i < 10; i++)
      acked.set(
        idOf(i),
        (await leader.append('orders', { id: idOf(i), type: 'Placed', data: payload(i) }, { expected: i })).position,
      );
    const lagging = [...logs.values()].find((log) => log !== leader)!;
    const laggingId = lagging.nodeId;
    await until(
      `${laggingId} at ${leader.committedPosition}`,
      () => lagging.committedPosition >= leader.committedPosition,
    );
    network.detach(laggingId);
    await lagging.close();
    logs.delete(laggingId);
    // Far more entries than the window holds, in several streams, some in one atomic batch.
    for (let i = 10; i < 400; i++) {
      if (i % 50 === 0) {
        const result = await leader.appendMany([
          { stream: 'orders', events: [{ id: idOf(i), type: 'Placed', data: payload(i) }], expected: i },
          { stream: `customer-${i}`, events: [{ id: idOf(100_000 + i), type: 'Joined' }], expected: 'empty' },
        ]);
        acked.set(idOf(i), result.streams[0]!.position);
        acked.set(idOf(100_000 + i), result.streams[1]!.position);
      } else {
        acked.set(idOf(i), (await leader.append('orders', { id: idOf(i), type: 'Placed', data: payload(i) })).position);
      }
    }
    assert.ok(
      leader.raftStatus().firstIndex > 20,
      `the leader's window starts at entry ${leader.raftStatus().firstIndex}: the follower's entries are no longer in memory`,
    );
    const back = await openNode(network, dirs.get(laggingId)!, laggingId, events);
    logs.set(laggingId, back);
    const head = leader.committedPosition;
    await until(`${laggingId} at ${head}`, () => back.committedPosition >= head, 20_000);
    const installed = events.filter((e) => e.kind === 'installed');
    assert.ok(installed.length >= 1, `a snapshot was installed (events: ${JSON.stringify(events)})`);
    assert.ok(installed[0]!.bytes > 2 * 1024 * 1024, `the transfer took several chunks (${installed[0]!.bytes} bytes)`);
    assert.deepEqual(await stagingFiles(dirs.get(laggingId)!), [], 'the staging file is gone after the install');
    // Everything acknowledged, once, at its position, on the node that caught up.
    const seen = await allIds(back);
    for (const [id, position] of acked)
      assert.equal(seen.get(id), position, `acknowledged ${id} at ${position} on ${laggingId}`);
    // Its engine knows the streams it got by snapshot: made leader, it decides expected counts right.
    leader.transferLeadership(laggingId);
    await until(`${laggingId} to lead`, () => back.raftStatus().role === 'leader');
    const orders = await back.count('orders');
    assert.equal(orders, 400);
    await assert.rejects(
      back.append('orders', { type: 'Placed' }, { expected: 399 }),
      /expected count 399 but its count is 400/,
    );
    await assert.rejects(back.append('customer-50', { type: 'Joined' }, { expected: 'empty' }), /customer-50/);
    // An event id it learnt by snapshot is recognised: the append is not written twice.
    const again = await back.append('orders', { id: idOf(350), type: 'Placed', data: payload(350) });
    assert.equal(again.position, acked.get(idOf(350)));
    await back.append('orders', { type: 'Placed' }, { expected: 400 });
    const last = back.committedPosition;
    for (const log of logs.values()) await until(`${log.nodeId} at ${last}`, () => log.committedPosition >= last);
    await closeAllAndCompare(logs, dirs);
  });

  it('a new node joins a cluster whose log is long compacted from memory: it gets a snapshot as a learner, then votes', async () => {
    const network = new MemoryNetwork();
    const events: SnapshotEvent[] = [];
    const dirs = new Map(
      await Promise.all([...PEERS, 'n4'].map(async (id) => [id, await tempDir(`ordo-snap-${id}`)] as const)),
    );
    const logs = new Map(
      await Promise.all(PEERS.map(async (id) => [id, await openNode(network, dirs.get(id)!, id, events)] as const)),
    );
    const leader = await until('a leader', () => leaderOf(logs.values()));
    for (let i = 0; i < 200; i++) await leader.append(`s-${i % 7}`, { id: idOf(i), type: 'T', data: payload(i) });
    const joining = await openNode(network, dirs.get('n4')!, 'n4', events);
    logs.set('n4', joining);
    await leader.changeMembership({ type: 'add-learner', node: 'n4' });
    const head = leader.committedPosition;
    await until('n4 to catch up', () => joining.committedPosition >= head, 20_000);
    assert.ok(
      events.some((e) => e.kind === 'installed' && e.peer === leader.nodeId),
      'n4 installed a snapshot from the leader',
    );
    await leader.changeMembership({ type: 'add-voter', node: 'n4' });
    await until('n4 a voter everywhere', () =>
      [...logs.values()].every((log) => log.raftStatus().config.voters.includes('n4')),
    );
    for (let i = 0; i < 7; i++) assert.equal(await joining.count(`s-${i}`), Math.ceil((200 - i) / 7));
    const seen = await allIds(joining);
    assert.equal(seen.size, 200);
    await leader.append('after', { type: 'T' });
    const last = leader.committedPosition;
    await until('n4 at the new head', () => joining.committedPosition >= last);
    for (const log of logs.values()) await log.close();
    const bytes = await Promise.all([...PEERS, 'n4'].map((id) => segmentBytes(dirs.get(id)!)));
    for (const other of bytes.slice(1)) assert.ok(bytes[0]!.equals(other), 'the four logs are byte-identical');
  });

  it('a transfer cut off halfway is given up and starts over; a node restarted mid-transfer catches up from its own applied entry', async () => {
    const network = new MemoryNetwork();
    const events: SnapshotEvent[] = [];
    const { dirs, logs } = await startCluster(network, events);
    const leader = await until('a leader', () => leaderOf(logs.values()));
    const lagging = [...logs.values()].find((log) => log !== leader)!;
    const laggingId = lagging.nodeId;
    network.detach(laggingId);
    await lagging.close();
    logs.delete(laggingId);
    for (let i = 0; i < 600; i++) await leader.append('big', { id: idOf(i), type: 'T', data: payload(i) });
    // The node comes back and starts pulling, but after two chunks the leader's answers are lost.
    let delivered = 0;
    network.frameFilter = (frame) => frame.type !== 'snapshot-data' || delivered++ < 2;
    const first = await openNode(network, dirs.get(laggingId)!, laggingId, events);
    await until('two chunks staged', () => delivered > 2, 10_000);
    assert.equal((await stagingFiles(dirs.get(laggingId)!)).length, 1);
    // Both sides give the stalled transfer up; the follower's log is as it was.
    await until(
      'the follower to give up',
      () => events.some((e) => e.kind === 'failed' && e.peer === leader.nodeId),
      10_000,
    );
    await until('the leader to give up', () => events.some((e) => e.kind === 'failed' && e.peer === laggingId), 10_000);
    assert.equal(first.committedPosition, -1);
    assert.deepEqual(await stagingFiles(dirs.get(laggingId)!), [], 'a transfer given up leaves no staging file');
    // Offered again, it stalls again; the node is stopped in the middle of it.
    delivered = 0;
    await until('a new transfer', () => delivered > 2, 10_000);
    network.detach(laggingId);
    await first.close();
    network.frameFilter = undefined;
    for (let i = 600; i < 650; i++) await leader.append('big', { id: idOf(i), type: 'T', data: payload(i) });
    const back = await openNode(network, dirs.get(laggingId)!, laggingId, events);
    logs.set(laggingId, back);
    const head = leader.committedPosition;
    await until(`${laggingId} at ${head}`, () => back.committedPosition >= head, 30_000);
    assert.ok(
      events.some((e) => e.kind === 'installed'),
      'the snapshot was installed on the second try',
    );
    const seen = await allIds(back);
    assert.equal(seen.size, 650);
    assert.equal(await back.count('big'), 650);
    await closeAllAndCompare(logs, dirs);
  });

  it('an old leader with an uncommitted tail gets a snapshot: the tail is cut, what it had applied stays visible throughout', async () => {
    const network = new MemoryNetwork();
    const events: SnapshotEvent[] = [];
    const { dirs, logs } = await startCluster(network, events);
    const old = await until('a leader', () => leaderOf(logs.values()));
    for (let i = 0; i < 5; i++) await old.append('acct', { type: 'Deposited', data: i }, { expected: i });
    for (const log of logs.values()) await until(`${log.nodeId} at 4`, () => log.committedPosition >= 4);
    // Cut off, the old leader takes appends that can never commit.
    network.cut.add(old.nodeId);
    const doomed = Array.from({ length: 10 }, (_, i) =>
      old.append('acct', { type: 'Lost', data: i }, { expected: 5 + i }).then(
        () => 'acknowledged',
        () => 'failed',
      ),
    );
    const rest = [...logs.values()].filter((log) => log !== old);
    const next = await until('a new leader', () => leaderOf(rest));
    for (let i = 0; i < 100; i++) await next.append('acct', { type: 'Kept', data: payload(i) }, { expected: 5 + i });
    // A subscriber on the old leader: what it saw committed must never be taken back.
    const seen: number[] = [];
    const subscription = old.subscribe({ from: 'start' });
    const reading = (async () => {
      for await (const event of subscription) {
        if ('position' in event) seen.push(event.position);
        if (seen.length === 105) break;
      }
    })();
    network.cut.delete(old.nodeId);
    const outcomes = await Promise.all(doomed);
    assert.ok(
      outcomes.every((o) => o === 'failed'),
      `an append the quorum never had was acknowledged: ${outcomes}`,
    );
    const head = next.committedPosition;
    await until(`${old.nodeId} at ${head}`, () => old.committedPosition >= head, 20_000);
    await reading;
    assert.deepEqual(
      seen,
      Array.from({ length: 105 }, (_, i) => i),
      'the subscriber saw every committed event once, in order, and no lost one',
    );
    assert.ok(
      events.some((e) => e.kind === 'installed' && e.peer === next.nodeId),
      'the old leader caught up by snapshot',
    );
    const types = [];
    for await (const event of old.read('acct', { consistency: 'local' })) types.push(event.type);
    assert.deepEqual(types, [...Array(5).fill('Deposited'), ...Array(100).fill('Kept')]);
    await closeAllAndCompare(logs, dirs);
  });
});
