import assert from 'node:assert/strict';
import { appendFile, readFile, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open, type EmbeddedEventLog } from '../../src/node/index.js';
import { loadRaftState } from '../../src/node/raft-state-file.js';
import { BATCH_PREFIX_BYTES, batchCount, batchEntryIndex } from '../../src/storage/record.js';
import { SEGMENT_HEADER_BYTES } from '../../src/storage/segment-file.js';
import { CorruptLogError } from '../../src/types/index.js';
import { MemoryNetwork } from '../support/memory-network.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

const PEERS = ['n1', 'n2', 'n3'];
/** Segments this small seal every few appends of PAD-sized events. */
const SMALL_SEGMENT_BYTES = 4096;
const PAD = 'x'.repeat(200);

/** The active (last) segment file of a log directory. */
async function activeSegment(dir: string): Promise<string> {
  const names = (await readdir(join(dir, 'segments'))).filter((n) => n.endsWith('.seg')).sort();
  return join(dir, 'segments', names[names.length - 1]!);
}

/** Byte offsets of the batches holding events in a segment file, in order. */
function eventBatches(bytes: Buffer): number[] {
  const found: number[] = [];
  for (let at = SEGMENT_HEADER_BYTES; at < bytes.length; at += BATCH_PREFIX_BYTES + bytes.readUInt32LE(at)) {
    if (batchCount(bytes, at) > 0) found.push(at);
  }
  return found;
}

async function drain(events: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of events);
}

async function events(log: EmbeddedEventLog): Promise<string[]> {
  const all: string[] = [];
  for await (const event of log.readAll()) all.push(Buffer.from(event.data as Uint8Array).toString());
  return all;
}

describe('A single node reports data it had fsynced and lost', () => {
  it('a damaged length in the last batch is reported as damage, not cut as a torn write', async () => {
    // Given a single node that acknowledged 10 appends (each its own entry) and closed
    const dir = await tempDir();
    const log = await open(dir);
    for (let i = 0; i < 10; i++) await log.append('s', { type: 'T', data: { i } });
    await log.close();
    // When one bit of the last batch's length flips, so that it seems to run past the file
    const file = await activeSegment(dir);
    const bytes = await readFile(file);
    const last = eventBatches(bytes).at(-1)!;
    bytes[last + 3] = bytes[last + 3]! ^ 0x01;
    await writeFile(file, bytes);
    // Then open fails naming the batch, instead of opening without the 10th append
    await assert.rejects(open(dir), (error: unknown) => {
      assert.ok(error instanceof CorruptLogError, String(error));
      assert.equal(error.file, file);
      assert.equal(error.offset, last);
      assert.match(error.reason, /length field is damaged/);
      return true;
    });
  });

  it('a bit flipped inside the last batch is reported as damage, not cut as a torn write', async () => {
    // Given a single node that acknowledged 10 appends (each its own entry) and closed, without
    // its raft-state (so that the committed index cannot tell the loss)
    const dir = await tempDir();
    const log = await open(dir);
    for (let i = 0; i < 10; i++) await log.append('s', { type: 'T', data: { i } });
    await log.close();
    await unlink(join(dir, 'raft-state'));
    // When one bit of the last batch's data flips
    const file = await activeSegment(dir);
    const bytes = await readFile(file);
    const last = eventBatches(bytes).at(-1)!;
    bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 0x04;
    await writeFile(file, bytes);
    // Then open fails naming the batch, instead of opening without the 10th append
    await assert.rejects(open(dir), (error: unknown) => {
      assert.ok(error instanceof CorruptLogError, String(error));
      assert.equal(error.file, file);
      assert.equal(error.offset, last);
      return true;
    });
  });

  it('a last batch lost whole is told by the committed index', async () => {
    // Given a single node that acknowledged 10 appends (each its own entry) and closed
    const dir = await tempDir();
    const log = await open(dir);
    for (let i = 0; i < 10; i++) await log.append('s', { type: 'T', data: { i } });
    await log.close();
    // When the last batch is gone whole
    const file = await activeSegment(dir);
    const bytes = await readFile(file);
    const last = eventBatches(bytes).at(-1)!;
    const lastEntry = batchEntryIndex(bytes, last);
    await writeFile(file, bytes.subarray(0, last));
    // Then open fails, naming what is missing, instead of opening without the 10th append
    await assert.rejects(open(dir), (error: unknown) => {
      assert.ok(error instanceof CorruptLogError, String(error));
      assert.match(
        error.message,
        new RegExp(`raft-state says entries up to ${lastEntry} are committed but the log ends at ${lastEntry - 1}`),
      );
      return true;
    });
  });

  it('a checkpoint beyond the end of the log is reported, not deleted', async () => {
    // Given a single node that acknowledged 10 appends and closed (writing a checkpoint at 9), without its raft-state
    const dir = await tempDir();
    const log = await open(dir);
    for (let i = 0; i < 10; i++) await log.append('s', { type: 'T', data: { i } });
    await log.close();
    await unlink(join(dir, 'raft-state'));
    // When the log loses its last three batches whole
    const file = await activeSegment(dir);
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, eventBatches(bytes).at(-3)));
    // Then open fails naming the checkpoint, and leaves it in place
    await assert.rejects(open(dir), (error: unknown) => {
      assert.ok(error instanceof CorruptLogError, String(error));
      assert.match(error.message, /a checkpoint holds events up to position 9 but the log ends at 6/);
      return true;
    });
    assert.deepEqual(await readdir(join(dir, 'checkpoints')), ['9.ckpt']);
  });

  it('a torn tail (never acknowledged) is cut and reported, and the node opens', async () => {
    // Given a node that acknowledged 10 appends, and half a batch written after them when the power went
    const dir = await tempDir();
    const log = await open(dir);
    for (let i = 0; i < 10; i++) await log.append('s', { type: 'T', data: { i } });
    await log.close();
    const file = await activeSegment(dir);
    const bytes = await readFile(file);
    const first = eventBatches(bytes)[0]!;
    const partial = bytes.subarray(first, first + 30);
    await appendFile(file, partial);
    // When it is reopened
    const reopened = await open(dir);
    // Then every acknowledged append is there and the cut is reported
    assert.equal((await events(reopened)).length, 10);
    assert.deepEqual(reopened.openReport.truncations, [{ file, offset: bytes.length, bytes: partial.length }]);
    await reopened.close();
  });
});

interface NodeSizes {
  segmentBytes?: number;
  windowEntries?: number;
}

async function openNode(
  network: MemoryNetwork,
  dir: string,
  id: string,
  sizes: NodeSizes = {},
): Promise<EmbeddedEventLog> {
  const cluster = {
    id,
    peers: PEERS,
    transport: network.transport(id),
    tickMs: 10,
    windowEntries: sizes.windowEntries,
  };
  const log = await open(dir, { cluster, segmentBytes: sizes.segmentBytes, scrub: false });
  network.attach(id, (m) => log.deliver(m));
  return log;
}

function leaderOf(logs: Iterable<EmbeddedEventLog>): EmbeddedEventLog | undefined {
  const leaders = [...logs].filter((log) => !log.closed && log.raftStatus().role === 'leader');
  return leaders.length === 1 ? leaders[0] : undefined;
}

async function startCluster(network: MemoryNetwork, sizes: NodeSizes = {}) {
  const dirs = new Map(await Promise.all(PEERS.map(async (id) => [id, await tempDir(`ordo-${id}`)] as const)));
  const logs = new Map<string, EmbeddedEventLog>();
  for (const id of PEERS) logs.set(id, await openNode(network, dirs.get(id)!, id, sizes));
  return { dirs, logs };
}

describe('A cluster node that lost entries it had acknowledged', () => {
  it('does not help elect a leader without them: acknowledged appends survive a bit flip on the node that held them', async () => {
    // Given three nodes: two acknowledge five appends at quorum while the third is down
    const network = new MemoryNetwork();
    const { dirs, logs } = await startCluster(network);
    const leader = await until('a leader', () => leaderOf(logs.values()));
    await leader.append('orders', { type: 'Placed', data: { n: 0 } });
    const [follower, third] = PEERS.filter((id) => id !== leader.nodeId).map((id) => logs.get(id)!);
    await until('the follower holds the first append', () => follower!.committedPosition >= 0);
    await third!.close();
    for (let n = 1; n <= 5; n++) await leader.append('orders', { type: 'Placed', data: { n } });
    // When the leader dies, one bit flips inside the first of those five entries on the follower's disk,
    await leader.close();
    await follower!.close();
    const file = await activeSegment(dirs.get(follower!.nodeId)!);
    const bytes = await readFile(file);
    const firstOfFive = eventBatches(bytes).at(-5)!;
    bytes[firstOfFive + 60] = bytes[firstOfFive + 60]! ^ 0x08;
    await writeFile(file, bytes);
    // and the follower and the third node come back
    const back = new Map<string, EmbeddedEventLog>();
    for (const log of [follower!, third!])
      back.set(log.nodeId, await openNode(network, dirs.get(log.nodeId)!, log.nodeId));
    const restarted = back.get(follower!.nodeId)!;
    // Then the follower cut its log at the damage, and is recovering, durably
    assert.equal(restarted.openReport.damageCuts.length, 1);
    assert.match((await loadRaftState(dirs.get(follower!.nodeId)!))?.hardState.recovering ?? '', /damage in the log/);
    // and once the dead leader is back too, a leader is elected with all five appends
    await new Promise((resolve) => setTimeout(resolve, 300));
    back.set(leader.nodeId, await openNode(network, dirs.get(leader.nodeId)!, leader.nodeId));
    const next = await until('a leader', () => leaderOf(back.values()));
    await next.append('orders', { type: 'Placed', data: { n: 6 } });
    const expected = [0, 1, 2, 3, 4, 5, 6].map((n) => JSON.stringify({ n }));
    assert.deepEqual(await events(next), expected);
    // and the follower got them back and is no longer recovering
    await until('the follower caught up', () => restarted.committedPosition >= 6);
    assert.deepEqual(await events(restarted), expected);
    await until('the mark is cleared', () => restarted.raftStatus().recovering === undefined);
    for (const log of back.values()) await log.close();
    assert.equal((await loadRaftState(dirs.get(follower!.nodeId)!))?.hardState.recovering, undefined);
  });

  it('a leader that stays up re-sends what a follower lost to damage', async () => {
    // Given three nodes holding ten appends
    const network = new MemoryNetwork();
    const { dirs, logs } = await startCluster(network);
    const leader = await until('a leader', () => leaderOf(logs.values()));
    for (let n = 0; n < 10; n++) await leader.append('orders', { type: 'Placed', data: { n } });
    const follower = [...logs.values()].find((log) => log !== leader)!;
    await until('the follower holds them', () => follower.committedPosition >= 9);
    // When the follower stops, one bit flips in its 3rd append, and it restarts while the leader stays up
    await follower.close();
    const file = await activeSegment(dirs.get(follower.nodeId)!);
    const bytes = await readFile(file);
    const third = eventBatches(bytes)[2]!;
    bytes[third + 60] = bytes[third + 60]! ^ 0x02;
    await writeFile(file, bytes);
    const restarted = await openNode(network, dirs.get(follower.nodeId)!, follower.nodeId);
    assert.equal(restarted.openReport.damageCuts.length, 1);
    await leader.append('orders', { type: 'Placed', data: { n: 10 } });
    // Then the leader brings it back: every append, and the mark cleared
    await until('the follower caught up', () => restarted.committedPosition >= 10);
    assert.deepEqual(
      await events(restarted),
      Array.from({ length: 11 }, (_, n) => JSON.stringify({ n })),
    );
    await until('the mark is cleared', () => restarted.raftStatus().recovering === undefined);
    await restarted.close();
    for (const log of logs.values()) if (!log.closed) await log.close();
  });

  it('repairs a damaged sealed segment that open reads through, from the leader', async () => {
    // Given a follower whose first sealed segment rotted while it was down (its index file stays valid)
    const { network, dirs, logs, follower, expected } = await clusterWithRottedFollower({});
    // When it restarts, loading its recent entries through the damage
    const restarted = await openNode(network, dirs.get(follower)!, follower, { segmentBytes: SMALL_SEGMENT_BYTES });
    // Then it cut its log at the damage, and the leader sends everything again
    assert.equal(restarted.openReport.damageCuts.length, 1);
    await until('the follower caught up', () => restarted.committedPosition >= 39);
    assert.deepEqual(await events(restarted), expected);
    await until('the mark is cleared', () => restarted.raftStatus().recovering === undefined);
    await restarted.close();
    for (const log of logs.values()) if (!log.closed) await log.close();
  });

  it('repairs at its next open a damaged sealed segment that a read met later', async () => {
    // Given a follower that keeps few entries in memory, whose first sealed segment rotted while it was down
    const options = { segmentBytes: SMALL_SEGMENT_BYTES, windowEntries: 4 };
    const { network, dirs, logs, follower, expected } = await clusterWithRottedFollower(options);
    // When it reopens without reading the damage, and then a read goes through it
    let restarted = await openNode(network, dirs.get(follower)!, follower, options);
    assert.equal(restarted.openReport.damageCuts.length, 0);
    await assert.rejects(drain(restarted.readAll({ consistency: 'local' })), CorruptLogError);
    // Then at its next open it cuts its log at the damage and gets everything back from the leader
    await restarted.close();
    restarted = await openNode(network, dirs.get(follower)!, follower, options);
    assert.equal(restarted.openReport.damageCuts.length, 1);
    await until('the follower caught up', () => restarted.committedPosition >= 39);
    assert.deepEqual(await events(restarted), expected);
    await restarted.close();
    for (const log of logs.values()) if (!log.closed) await log.close();
  });

  it('a torn tail on every node (a whole-cluster power cut) does not mark any node: they elect a leader', async () => {
    // Given three nodes that acknowledged appends, then all lost power with half a batch on every disk
    const network = new MemoryNetwork();
    const { dirs, logs } = await startCluster(network);
    const leader = await until('a leader', () => leaderOf(logs.values()));
    for (let n = 0; n < 5; n++) await leader.append('orders', { type: 'Placed', data: { n } });
    await until('all hold them', () => [...logs.values()].every((log) => log.committedPosition >= 4));
    for (const log of logs.values()) await log.close();
    for (const dir of dirs.values()) {
      const file = await activeSegment(dir);
      const bytes = await readFile(file);
      const first = eventBatches(bytes)[0]!;
      await appendFile(file, bytes.subarray(first, first + 30));
    }
    // When they all come back
    const back = new Map<string, EmbeddedEventLog>();
    for (const id of PEERS) back.set(id, await openNode(network, dirs.get(id)!, id));
    // Then none is recovering, each cut its torn tail, and they elect a leader that holds every append
    for (const log of back.values()) {
      assert.equal(log.openReport.truncations.length, 1);
      assert.equal((await loadRaftState(dirs.get(log.nodeId)!))?.hardState.recovering, undefined);
    }
    const next = await until('a leader', () => leaderOf(back.values()));
    assert.equal((await events(next)).length, 5);
    for (const log of back.values()) await log.close();
  });
});

describe('A cluster node without its raft-state file', () => {
  it('marks itself recovering before it cuts a damaged segment header, and is brought back', async () => {
    // Given a node of a three-node cluster whose raft-state file is gone (its first fdatasync
    // failed, then the power went: entries it acknowledged may still be on its disk), with one
    // bit of its segment header flipped
    const network = new MemoryNetwork();
    const dirs = new Map(await Promise.all(PEERS.map(async (id) => [id, await tempDir(`ordo-${id}`)] as const)));
    await (await openNode(network, dirs.get('n1')!, 'n1')).close();
    await unlink(join(dirs.get('n1')!, 'raft-state')).catch(() => undefined);
    const file = await activeSegment(dirs.get('n1')!);
    const bytes = await readFile(file);
    bytes[9] = bytes[9]! ^ 0x08;
    await writeFile(file, bytes);
    // When it is opened with its peers
    const logs = new Map<string, EmbeddedEventLog>();
    logs.set('n1', await openNode(network, dirs.get('n1')!, 'n1'));
    // Then it cut the segment and is recovering, durably: it will not vote before a leader brings it back
    assert.deepEqual(
      logs.get('n1')!.openReport.damageCuts.map((d) => [d.file, d.offset]),
      [[file, 0]],
    );
    assert.match(logs.get('n1')!.raftStatus().recovering ?? '', /damage in the log/);
    assert.match((await loadRaftState(dirs.get('n1')!))?.hardState.recovering ?? '', /damage in the log/);
    // And once the others are up, they elect a leader that replicates to it, and the mark is cleared
    for (const id of PEERS.slice(1)) logs.set(id, await openNode(network, dirs.get(id)!, id));
    const leader = await until('a leader', () => leaderOf(logs.values()));
    await leader.append('orders', { type: 'Placed', data: { n: 1 } });
    await until('n1 holds it', () => logs.get('n1')!.committedPosition >= 0);
    await until('the mark is cleared', () => logs.get('n1')!.raftStatus().recovering === undefined);
    for (const log of logs.values()) await log.close();
  });
});

/**
 * Three nodes holding forty appends in small segments; then one follower is closed and a bit
 * flips in the second batch of its first (sealed) segment, whose index file stays valid.
 */
async function clusterWithRottedFollower(sizes: NodeSizes) {
  const network = new MemoryNetwork();
  const { dirs, logs } = await startCluster(network, { ...sizes, segmentBytes: SMALL_SEGMENT_BYTES });
  const leader = await until('a leader', () => leaderOf(logs.values()));
  for (let n = 0; n < 40; n++) await leader.append('orders', { type: 'Placed', data: { n, pad: PAD } });
  const follower = [...logs.values()].find((log) => log !== leader)!;
  await until('the follower holds them', () => follower.committedPosition >= 39);
  const expected = await events(leader);
  await follower.close();
  const segments = join(dirs.get(follower.nodeId)!, 'segments');
  const first = join(segments, (await readdir(segments)).filter((n) => n.endsWith('.seg')).sort()[0]!);
  const bytes = await readFile(first);
  const damaged = eventBatches(bytes)[1]!;
  bytes[damaged + 60] = bytes[damaged + 60]! ^ 0x10;
  await writeFile(first, bytes);
  return { network, dirs, logs, leader, follower: follower.nodeId, expected };
}
