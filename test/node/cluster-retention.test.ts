import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open, type EmbeddedEventLog, type SnapshotEvent } from '../../src/node/index.js';
import { PositionTrimmedError, type Event } from '../../src/types/index.js';
import { MemoryNetwork } from '../support/memory-network.js';
import { tempDir } from '../support/temp-dir.js';
import { retentionSettled, until } from '../support/until.js';
import { collect } from '../conformance/event-log-suite.js';

const PEERS = ['n1', 'n2', 'n3'];
/** Small segments, frequent checkpoints and a tiny window: retention and snapshots come quickly. */
const SMALL = { segmentBytes: 4096, checkpointEvery: 20, scrub: false } as const;
const RETENTION = { maxBytes: 16_384, checkIntervalMs: 10 } as const;
const PAD = 'x'.repeat(200);
const idOf = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

function openNode(network: MemoryNetwork, dir: string, id: string, events: SnapshotEvent[]): Promise<EmbeddedEventLog> {
  return open(dir, {
    ...SMALL,
    retention: RETENTION,
    cluster: {
      id,
      peers: PEERS,
      transport: network.transport(id),
      tickMs: 10,
      windowEntries: 16,
      onSnapshot: (event) => events.push(event),
    },
  }).then((log) => {
    network.attach(id, (m) => log.deliver(m));
    return log;
  });
}

function leaderOf(logs: Iterable<EmbeddedEventLog>): EmbeddedEventLog | undefined {
  const leaders = [...logs].filter((log) => !log.closed && log.raftStatus().role === 'leader');
  return leaders.length === 1 ? leaders[0] : undefined;
}

/** Appends events `from..to-1` to streams s-0..s-2; returns each acknowledged id's position. */
async function fill(log: EmbeddedEventLog, from: number, to: number, acked: Map<string, number>): Promise<void> {
  for (let i = from; i < to; i++) {
    const result = await log.append(`s-${i % 3}`, { id: idOf(i), type: 'E', data: { i, pad: PAD } });
    acked.set(idOf(i), result.position);
  }
}

/** What a node serves from `from` on: ids and positions, as it reads them locally. */
async function served(log: EmbeddedEventLog, from: number): Promise<Array<[string, number]>> {
  const events = await collect(log.readAll({ from, consistency: 'local' }));
  return events.map((event: Event) => [event.id, event.position]);
}

function trimmed(firstPosition: number) {
  return (error: unknown) => {
    assert.ok(error instanceof PositionTrimmedError, String(error));
    assert.equal(error.firstPosition, firstPosition);
    return true;
  };
}

interface Cluster {
  network: MemoryNetwork;
  events: SnapshotEvent[];
  dirs: Map<string, string>;
  logs: Map<string, EmbeddedEventLog>;
}

async function startCluster(): Promise<Cluster> {
  const network = new MemoryNetwork();
  const events: SnapshotEvent[] = [];
  const dirs = new Map(await Promise.all(PEERS.map(async (id) => [id, await tempDir(`ordo-ret-${id}`)] as const)));
  const logs = new Map(
    await Promise.all(PEERS.map(async (id) => [id, await openNode(network, dirs.get(id)!, id, events)] as const)),
  );
  return { network, events, dirs, logs };
}

/**
 * Stops a follower, appends until the leader's retention removed entries the follower lacks,
 * and restarts it: it must catch up from the leader's checkpoint.
 */
async function lagBehindRetention(cluster: Cluster, acked: Map<string, number>) {
  const { network, logs } = cluster;
  const leader = await until('a leader', () => leaderOf(logs.values()));
  await fill(leader, 0, 30, acked);
  const lagging = [...logs.values()].find((log) => log !== leader)!;
  const id = lagging.nodeId;
  await until(`${id} caught up`, () => lagging.committedPosition >= leader.committedPosition);
  const behind = lagging.committedPosition;
  network.detach(id);
  await lagging.close();
  logs.delete(id);
  await fill(leader, 30, 400, acked);
  await retentionSettled(leader);
  assert.ok(
    leader.firstPosition > behind + 1,
    `the leader's log starts at ${leader.firstPosition}, after position ${behind} the follower has`,
  );
  const back = await openNode(network, cluster.dirs.get(id)!, id, cluster.events);
  logs.set(id, back);
  const head = leader.committedPosition;
  await until(`${id} at ${head}`, () => back.committedPosition >= head, 20_000);
  return { leader, back, behind };
}

async function closeAll(logs: Map<string, EmbeddedEventLog>): Promise<void> {
  for (const log of logs.values()) if (!log.closed) await log.close();
}

describe('retention in a Raft cluster: a follower behind the retained log catches up from a checkpoint', () => {
  it("a restarted follower installs the leader's checkpoint, serves the same events, and trims below its start", async () => {
    const cluster = await startCluster();
    const acked = new Map<string, number>();
    try {
      const { leader, back, behind } = await lagBehindRetention(cluster, acked);
      const installed = cluster.events.filter((e) => e.kind === 'installed' && e.checkpoint !== undefined);
      assert.ok(installed.length >= 1, `a checkpoint was installed (events: ${JSON.stringify(cluster.events)})`);
      // Its log now starts after what it had: its history was replaced by the checkpoint.
      assert.ok(back.firstPosition > behind + 1, `${back.nodeId} starts at ${back.firstPosition}`);
      const staging = (await readdir(cluster.dirs.get(back.nodeId)!)).filter((name) => name.endsWith('.staging'));
      assert.deepEqual(staging, [], 'no staging file is left after the install');
      const checkpoints = await readdir(join(cluster.dirs.get(back.nodeId)!, 'checkpoints'));
      assert.ok(
        checkpoints.some((name) => Number(name.split('.')[0]) >= back.firstPosition - 1),
        `a checkpoint covers the log start (${checkpoints.join(', ')})`,
      );
      // Every node serves the same events from the latest start on.
      const from = Math.max(...[...cluster.logs.values()].map((log) => log.firstPosition));
      const expected = await served(leader, from);
      assert.ok(expected.length > 0);
      for (const log of cluster.logs.values()) assert.deepEqual(await served(log, from), expected, log.nodeId);
      for (const [id, position] of expected) assert.equal(acked.get(id), position, `${id} as acknowledged`);
      // Stream counts came with the checkpoint: they never move.
      for (const stream of ['s-0', 's-1', 's-2'])
        assert.equal(await back.count(stream), await leader.count(stream), `${stream} count on ${back.nodeId}`);
      // Below its start: the typed error that names where the log starts.
      await assert.rejects(collect(back.readAll({ from: 0, consistency: 'local' })), trimmed(back.firstPosition));
      await assert.rejects(back.subscribe({ from: behind }).next(), trimmed(back.firstPosition));
      const fromStart = back.subscribe({ from: 'start' });
      assert.equal(((await fromStart.next()).value as Event).position, back.firstPosition);
      fromStart.close();
    } finally {
      await closeAll(cluster.logs);
    }
  });

  it('the follower that caught up from a checkpoint can lead, and nothing acknowledged is lost', async () => {
    const cluster = await startCluster();
    const acked = new Map<string, number>();
    try {
      const { leader, back } = await lagBehindRetention(cluster, acked);
      leader.transferLeadership(back.nodeId);
      await until(`${back.nodeId} to lead`, () => back.raftStatus().role === 'leader');
      await leader.close();
      const counts = await back.count('s-0');
      // Its engine decides against the state the checkpoint carried.
      await assert.rejects(
        back.append('s-0', { type: 'E' }, { expected: counts - 1 }),
        new RegExp(`its count is ${counts}`),
      );
      await back.append('s-0', { id: idOf(10_000), type: 'E' }, { expected: counts });
      acked.set(idOf(10_000), back.committedPosition);
      const other = [...cluster.logs.values()].find((log) => log !== back && log !== leader)!;
      await until(
        `${other.nodeId} at ${back.committedPosition}`,
        () => other.committedPosition >= back.committedPosition,
      );
      // Every acknowledged event still retained anywhere is on both, once, at its position.
      const from = Math.max(back.firstPosition, other.firstPosition);
      for (const log of [back, other]) {
        const seen = new Map(await served(log, from));
        for (const [id, position] of acked)
          if (position >= from) assert.equal(seen.get(id), position, `${id} at ${position} on ${log.nodeId}`);
      }
      assert.equal(await back.count('s-0'), counts + 1);
    } finally {
      await closeAll(cluster.logs);
    }
  });
});
