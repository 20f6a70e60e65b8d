import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open, verifyLog, type EmbeddedEventLog, type OpenOptions } from '../../src/node/index.js';
import { StreamDeletedError } from '../../src/types/index.js';
import { MemoryNetwork } from '../support/memory-network.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';
import { collect } from '../conformance/event-log-suite.js';

const PEERS = ['n1', 'n2', 'n3'];

async function startCluster(network: MemoryNetwork, options: OpenOptions = {}): Promise<Map<string, EmbeddedEventLog>> {
  const logs = await Promise.all(
    PEERS.map(async (id) => {
      const log = await open(await tempDir(`ordo-${id}`), {
        ...options,
        cluster: { id, peers: PEERS, transport: network.transport(id), tickMs: 10 },
      });
      network.attach(id, (m) => log.deliver(m));
      return [id, log] as const;
    }),
  );
  return new Map(logs);
}

function leaderOf(logs: Map<string, EmbeddedEventLog>): EmbeddedEventLog | undefined {
  const leaders = [...logs.values()].filter((log) => !log.closed && log.raftStatus().role === 'leader');
  return leaders.length === 1 ? leaders[0] : undefined;
}

async function localIndexes(log: EmbeddedEventLog, stream: string, minPosition: number): Promise<number[]> {
  const events = await collect(log.read(stream, { consistency: 'local', minPosition }));
  return events.map((event) => event.index);
}

/** Every file under `dir` whose bytes hold `marker`. */
async function filesHolding(dir: string, marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const file = join(entry.parentPath, entry.name);
    if (entry.isFile() && (await readFile(file)).includes(marker)) found.push(file);
  }
  return found;
}

const SMALL_SEGMENTS: OpenOptions = { segmentBytes: 8192, checkpointEvery: 50, scrub: false, scavenge: false };

describe('scavenging and erasure in a Raft cluster of three', () => {
  it('an erasure removes the marker from every file of every node, and each node still serves the same events', async () => {
    const network = new MemoryNetwork();
    const logs = await startCluster(network, SMALL_SEGMENTS);
    const leader = await until('a leader', () => leaderOf(logs));
    const marker = 'PERSONAL-DATA-c0ffee';
    for (let i = 0; i < 40; i++) {
      const personal = i % 2 === 0;
      await leader.append(personal ? 'person-7' : 'orders', { type: 'E', data: personal ? { i, marker } : { i } });
    }
    await leader.append('orders', { type: 'E', data: { last: true } });
    for (const log of logs.values())
      assert.ok((await filesHolding(log.dir, marker)).length > 0, `${log.nodeId} holds it`);

    const { position } = await leader.erase('person-7');

    for (const log of logs.values()) {
      await until(
        `${log.nodeId} erased`,
        () => log.committedPosition >= position && log.status().scavenge.pendingErasures === 0,
      );
      assert.deepEqual(await filesHolding(log.dir, marker), [], `${log.nodeId} still holds the marker`);
      assert.deepEqual(await localIndexes(log, 'person-7', position), []);
      assert.equal((await localIndexes(log, 'orders', position)).length, 21);
    }
    for (const log of logs.values()) await log.close();
    for (const log of logs.values()) {
      const report = await verifyLog(log.dir);
      assert.deepEqual(report.problems, [], log.nodeId);
      assert.deepEqual(report.pendingErasures, [], log.nodeId);
      assert.equal(report.holes, 20, `${log.nodeId} holes`);
    }
  });

  it("a scavenge point from the leader makes every node remove the same events' bytes", async () => {
    const network = new MemoryNetwork();
    const logs = await startCluster(network, SMALL_SEGMENTS);
    const leader = await until('a leader', () => leaderOf(logs));
    for (let i = 0; i < 60; i++) await leader.append('sensor', { type: 'Reading', data: { i, pad: 'r'.repeat(200) } });
    await leader.setStreamMetadata('sensor', { maxCount: 5 });
    await leader.append('other', { type: 'E' });

    const result = await leader.scavenge();

    assert.equal(result.streams, 1);
    const head = leader.committedPosition;
    for (const log of logs.values()) {
      await until(`${log.nodeId} scavenged`, () => log.committedPosition >= head && log.status().scavenge.holes > 0);
      assert.deepEqual(await localIndexes(log, 'sensor', head), [55, 56, 57, 58, 59]);
    }
    // Lifted metadata shows nothing that is gone, on any node, scavenged or not.
    const { position } = await leader.setStreamMetadata('sensor', {});
    for (const log of logs.values()) {
      assert.deepEqual(await localIndexes(log, 'sensor', position), [55, 56, 57, 58, 59], `${log.nodeId}`);
    }
    for (const log of logs.values()) await log.close();
  });
});

describe('stream metadata in a Raft cluster of three', () => {
  it('every node honours metadata and tombstones, and a new leader after failover refuses a tombstoned stream', async () => {
    const network = new MemoryNetwork();
    const logs = await startCluster(network);
    const leader = await until('a leader', () => leaderOf(logs));
    for (let i = 0; i < 4; i++) await leader.append('orders', { type: 'Placed', data: i });
    await leader.append('closed', { type: 'Opened' });
    await leader.setStreamMetadata('orders', { maxCount: 1 });
    const { position } = await leader.deleteStream('closed', { tombstone: true });
    for (const log of logs.values()) {
      assert.deepEqual(await localIndexes(log, 'orders', position), [3], `${log.nodeId} honours maxCount`);
      assert.deepEqual(await localIndexes(log, 'closed', position), [], `${log.nodeId} hides the tombstoned stream`);
    }
    await leader.close();
    const rest = new Map([...logs].filter(([id]) => id !== leader.nodeId));
    const next = await until('a new leader', () => leaderOf(rest));
    await assert.rejects(next.append('closed', { type: 'Reopened' }), StreamDeletedError);
    assert.equal((await next.append('orders', { type: 'Placed' })).index, 4);
    assert.deepEqual(await localIndexes(next, 'orders', next.committedPosition), [4]);
    for (const log of rest.values()) await log.close();
  });

  it("a cut-off leader's uncommitted tombstone is undone on every node", async () => {
    const network = new MemoryNetwork();
    const logs = await startCluster(network);
    const old = await until('a leader', () => leaderOf(logs));
    await old.append('acct', { type: 'Opened' });
    for (const log of logs.values()) await until(`${log.nodeId} at 0`, () => log.committedPosition >= 0);
    network.cut.add(old.nodeId);
    const doomed = old.deleteStream('acct', { tombstone: true }).then(
      () => 'acknowledged',
      (error: Error) => error.constructor.name,
    );
    const rest = new Map([...logs].filter(([id]) => id !== old.nodeId));
    const next = await until('a new leader', () => leaderOf(rest));
    await next.append('acct', { type: 'Deposited' });
    network.cut.delete(old.nodeId);
    assert.notEqual(await doomed, 'acknowledged');
    const head = next.committedPosition;
    await until(`${old.nodeId} at ${head}`, () => old.committedPosition >= head);
    const status = await old.getStreamMetadata('acct', { consistency: 'local' });
    assert.equal(status.tombstoned, false, 'the tombstone the quorum never had is gone');
    assert.deepEqual(await localIndexes(old, 'acct', head), [0, 1]);
    for (const log of logs.values()) await log.close();
  });
});
