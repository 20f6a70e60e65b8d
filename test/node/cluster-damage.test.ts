import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { open, type DamagedBatch, type EmbeddedEventLog, type SnapshotEvent } from '../../src/node/index.js';
import { MemoryNetwork } from '../support/memory-network.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';
import { flipByteOfFirstBatch } from '../support/damage.js';

const PEERS = ['n1', 'n2', 'n3'];
/** A tiny in-memory window, so that a follower a few dozen entries behind needs a snapshot. */
const WINDOW_ENTRIES = 16;

async function openNode(network: MemoryNetwork, dir: string, id: string, events: SnapshotEvent[]) {
  const log = await open(dir, {
    segmentBytes: 4096,
    scrub: false,
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

function leaderOf(logs: Iterable<EmbeddedEventLog>): EmbeddedEventLog | undefined {
  const leaders = [...logs].filter((log) => !log.closed && log.raftStatus().role === 'leader');
  return leaders.length === 1 ? leaders[0] : undefined;
}

describe('a damaged sealed batch on the node that serves a snapshot', () => {
  it('fails the transfer that reaches it, naming file and offset, and the cluster goes on', {
    timeout: 60_000,
  }, async () => {
    // Given three nodes, one of them down while the others write far past the window
    const network = new MemoryNetwork();
    const events: SnapshotEvent[] = [];
    const dirs = new Map(await Promise.all(PEERS.map(async (id) => [id, await tempDir(`ordo-dmg-${id}`)] as const)));
    const logs = new Map(
      await Promise.all(PEERS.map(async (id) => [id, await openNode(network, dirs.get(id)!, id, events)] as const)),
    );
    try {
      const leader = await until('a leader', () => leaderOf(logs.values()));
      const lagging = [...logs.values()].find((log) => log !== leader)!;
      const laggingId = lagging.nodeId;
      await leader.append('s', { type: 'T' });
      await until(`${laggingId} caught up`, () => lagging.committedPosition >= leader.committedPosition);
      network.detach(laggingId);
      await lagging.close();
      logs.delete(laggingId);
      for (let i = 0; i < 80; i++) await leader.append(`s${i}`, { type: 'T', data: { pad: 'x'.repeat(200) } });
      // And bit rot in the leader's second segment, which the lagging node needs
      const damaged = leader.status().segments[1]!;
      const offset = await flipByteOfFirstBatch(damaged.file);
      const found: DamagedBatch[] = [];
      leader.onDamage = (damage) => found.push(damage);

      // When the lagging node comes back and pulls a snapshot from the leader
      const back = await openNode(network, dirs.get(laggingId)!, laggingId, events);
      logs.set(laggingId, back);
      const failed = await until('a failed transfer', () =>
        events.find((e) => e.kind === 'failed' && e.peer === leader.nodeId),
      );

      // Then the transfer fails with the damaged file and offset
      assert.ok(failed.kind === 'failed');
      assert.match(failed.reason, new RegExp(`corrupt log file ${damaged.file} at byte offset ${offset}: crc32c`));
      // And the leader reported the damage once, however often the transfer is tried again
      await until('another try', () => events.filter((e) => e.kind === 'failed').length >= 2, 20_000);
      assert.deepEqual(
        found.map((d) => [d.file, d.offset, d.foundBy]),
        [[damaged.file, offset, 'read']],
      );
      assert.equal(leader.metrics().damagedBatches, 1);
      assert.match(leader.status().scrub.advice ?? '', /restart this node/);
      // And the cluster still commits appends (two of three nodes)
      await leader.append('after-damage', { type: 'T' });
    } finally {
      for (const log of logs.values()) await log.close();
    }
  });
});
