import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type EmbeddedEventLog, type SnapshotEvent } from '../../src/node/index.js';
import { StorageFailedError } from '../../src/types/errors.js';
import { MemoryNetwork } from '../support/memory-network.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';
import { collect } from '../conformance/event-log-suite.js';
import { FaultyDisk, untilDiskFull } from './faulty-disk.js';

const PEERS = ['n1', 'n2', 'n3'];
/** A guard against a hang, not a timing assertion. */
const HANG_GUARD = { timeout: 60_000 };

interface Node {
  log: EmbeddedEventLog;
  disk: FaultyDisk;
}

/** Three nodes, each on its own faulty disk, in fresh directories on one memory network. */
async function startCluster(): Promise<Map<string, Node>> {
  const network = new MemoryNetwork();
  const nodes = new Map<string, Node>();
  await Promise.all(
    PEERS.map(async (id) => {
      const disk = new FaultyDisk();
      const log = await open(await tempDir(`ordo-${id}`), {
        fileSystem: disk.fs,
        cluster: { id, peers: PEERS, transport: network.transport(id), tickMs: 10 },
      });
      network.attach(id, (m) => log.deliver(m));
      nodes.set(id, { log, disk });
    }),
  );
  return nodes;
}

function leaderOf(nodes: Map<string, Node>): Node | undefined {
  const leaders = [...nodes.values()].filter((n) => !n.log.closed && n.log.raftStatus().role === 'leader');
  return leaders.length === 1 ? leaders[0] : undefined;
}

function leadingLog(logs: Iterable<EmbeddedEventLog>): EmbeddedEventLog | undefined {
  const leaders = [...logs].filter((log) => !log.closed && log.raftStatus().role === 'leader');
  return leaders.length === 1 ? leaders[0] : undefined;
}

async function types(log: EmbeddedEventLog): Promise<string[]> {
  return (await collect(log.read('s', { consistency: 'local' }))).map((e) => e.type);
}

/** A node with a window of 16 entries, so that a follower a few hundred entries behind needs a snapshot. */
async function openSnapshotting(
  network: MemoryNetwork,
  dir: string,
  id: string,
  disk: FaultyDisk,
  events: SnapshotEvent[],
): Promise<EmbeddedEventLog> {
  const log = await open(dir, {
    fileSystem: disk.fs,
    cluster: {
      id,
      peers: PEERS,
      transport: network.transport(id),
      tickMs: 10,
      windowEntries: 16,
      onSnapshot: (e) => events.push(e),
    },
  });
  network.attach(id, (m) => log.deliver(m));
  return log;
}

async function segmentBytes(dir: string): Promise<Buffer> {
  const names = (await readdir(join(dir, 'segments'))).filter((n) => n.endsWith('.seg')).sort();
  return Buffer.concat(await Promise.all(names.map((n) => readFile(join(dir, 'segments', n)))));
}

async function closeAll(nodes: Map<string, Node>): Promise<void> {
  for (const { log } of nodes.values()) await log.close();
}

describe('a cluster whose members’ disks fail', () => {
  it('a follower whose fdatasync fails stops; the leader and the other follower go on', HANG_GUARD, async () => {
    // Given a cluster of three
    const nodes = await startCluster();
    const leader = await until('a leader', () => leaderOf(nodes));
    await leader.log.append('s', { type: 'A' });
    const [broken, healthy] = [...nodes.values()].filter((n) => n !== leader);
    const stopped: StorageFailedError[] = [];
    broken!.log.onStopped((error) => stopped.push(error));
    // When one follower's fdatasync fails
    broken!.disk.failSyncs('EIO');
    // Then the leader's appends still commit, with the other follower
    for (const type of ['B', 'C', 'D']) await leader.log.append('s', { type });
    await until('the healthy follower to commit', () => healthy!.log.committedPosition >= 3);
    assert.deepEqual(await types(healthy!.log), ['A', 'B', 'C', 'D']);
    // And the failed follower stopped, naming the file and the error
    await until('the follower to stop', () => stopped.length === 1);
    assert.match(stopped[0]!.message, /\.seg failed \(EIO in fdatasync/);
    await assert.rejects(broken!.log.count('s'), StorageFailedError);
    await closeAll(nodes);
  });

  it(
    'a follower whose disk is full stops acknowledging, the quorum goes on, and it catches up when space returns',
    HANG_GUARD,
    async () => {
      // Given a cluster of three
      const nodes = await startCluster();
      const leader = await until('a leader', () => leaderOf(nodes));
      await leader.log.append('s', { type: 'A' });
      const [full, healthy] = [...nodes.values()].filter((n) => n !== leader);
      await until('the follower to hold A', () => full!.log.committedPosition >= 0);
      // When one follower's disk is full
      full!.disk.failWrites('ENOSPC');
      // Then the quorum goes on without it
      for (const type of ['B', 'C', 'D']) await leader.log.append('s', { type });
      await until('the healthy follower to commit', () => healthy!.log.committedPosition >= 3);
      assert.ok(full!.disk.writeFailures > 0, 'the full follower tried to write');
      assert.ok(full!.log.committedPosition < 3, 'the full follower holds nothing it could not write');
      // When space returns, it catches up by itself
      full!.disk.heal();
      await until('the full follower to catch up', () => full!.log.committedPosition >= 3, 20_000);
      assert.deepEqual(await types(full!.log), ['A', 'B', 'C', 'D']);
      await closeAll(nodes);
    },
  );

  it(
    'a leader whose disk is full refuses new appends with DISK_FULL and writes the one it had proposed once space returns',
    HANG_GUARD,
    async () => {
      // Given a cluster of three whose leader's disk fills up under an append
      const nodes = await startCluster();
      const leader = await until('a leader', () => leaderOf(nodes));
      await leader.log.append('s', { type: 'A' });
      leader.disk.failWrites('ENOSPC');
      const proposed = leader.log.append('s', { type: 'B' });
      // When it is asked for more
      const refusal = await untilDiskFull(leader.log);
      // Then it refuses them up front (never proposed), and the proposed one keeps its fate
      assert.equal(refusal.code, 'DISK_FULL');
      leader.disk.heal();
      assert.equal((await proposed).position, 1);
      const others = [...nodes.values()].filter((n) => n !== leader);
      for (const node of others) await until('followers to commit B', () => node.log.committedPosition >= 1);
      for (const node of nodes.values()) assert.deepEqual(await types(node.log), ['A', 'B']);
      await closeAll(nodes);
    },
  );
  it(
    'a follower whose fdatasync fails while it installs a snapshot stops; restarted on a good disk it catches up, byte-identical',
    HANG_GUARD,
    async () => {
      // Given a cluster whose follower was down while the leader wrote far past its window
      const network = new MemoryNetwork();
      const dirs = new Map(await Promise.all(PEERS.map(async (id) => [id, await tempDir(`ordo-${id}`)] as const)));
      const events: SnapshotEvent[] = [];
      const start = (id: string, disk: FaultyDisk) => openSnapshotting(network, dirs.get(id)!, id, disk, events);
      const logs = new Map(
        await Promise.all(PEERS.map(async (id) => [id, await start(id, new FaultyDisk())] as const)),
      );
      const leader = await until('a leader', () => leadingLog(logs.values()));
      const laggingId = PEERS.find((id) => id !== leader.nodeId)!;
      network.detach(laggingId);
      await logs.get(laggingId)!.close();
      for (let i = 0; i < 300; i++) await leader.append('big', { type: 'T', data: { i, pad: 'x'.repeat(8 * 1024) } });
      // When it comes back on a disk whose fdatasync fails once the snapshot is being written
      const disk = new FaultyDisk();
      const stopped: StorageFailedError[] = [];
      let back = await start(laggingId, disk);
      back.onStopped((error) => stopped.push(error));
      await until('the leader to offer a snapshot', () =>
        events.some((e) => e.kind === 'offered' && e.peer === laggingId),
      );
      disk.failSyncs('EIO');
      // Then it stops, naming the failure, and the other two go on committing
      await until('the follower to stop', () => stopped.length === 1, 20_000);
      assert.match(stopped[0]!.message, /EIO in fdatasync/);
      await leader.append('big', { type: 'After' });
      // When it is restarted on a good disk
      network.detach(laggingId);
      await back.close();
      back = await start(laggingId, new FaultyDisk());
      logs.set(laggingId, back);
      // Then it catches up, and the three logs are byte-identical
      const head = leader.committedPosition;
      await until(`${laggingId} at ${head}`, () => back.committedPosition >= head, 30_000);
      assert.equal(await back.count('big'), 301);
      for (const log of logs.values()) await log.close();
      const [a, b, c] = await Promise.all(PEERS.map((id) => segmentBytes(dirs.get(id)!)));
      assert.ok(a!.equals(b!) && b!.equals(c!), 'the three logs are byte-identical');
    },
  );
});
