import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { open, type EmbeddedEventLog } from '../../src/node/index.js';
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

async function types(log: EmbeddedEventLog): Promise<string[]> {
  return (await collect(log.read('s', { consistency: 'local' }))).map((e) => e.type);
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
});
