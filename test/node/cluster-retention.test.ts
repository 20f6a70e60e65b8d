import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open, verifyLog, type EmbeddedEventLog, type SnapshotEvent } from '../../src/node/index.js';
import { nodeFileSystem, type FileHandle, type FileSystem } from '../../src/storage/file-system.js';
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

function openNode(
  network: MemoryNetwork,
  dir: string,
  id: string,
  events: SnapshotEvent[],
  fileSystem?: FileSystem,
): Promise<EmbeddedEventLog> {
  return open(dir, {
    ...SMALL,
    ...(fileSystem ? { fileSystem } : {}),
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
async function lagBehindRetention(cluster: Cluster, acked: Map<string, number>, fileSystem?: FileSystem) {
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
  const back = await openNode(network, cluster.dirs.get(id)!, id, cluster.events, fileSystem);
  logs.set(id, back);
  return { leader, back, behind };
}

async function caughtUp(leader: EmbeddedEventLog, back: EmbeddedEventLog): Promise<void> {
  const head = leader.committedPosition;
  await until(`${back.nodeId} at ${head}`, () => back.committedPosition >= head, 20_000);
}

/**
 * The real disk until the install of a checkpoint begins (the second read of the staged
 * checkpoint: the first checks it, the second saves it), then dead from the `freezeAt`th change
 * of a directory on (rename, unlink, rm) up to the new empty segment: that change and everything
 * after fail, as nothing more happens after a kill -9. `frozen` says whether it got that far.
 */
class DyingDisk {
  frozen = false;
  private armed = false;
  private changes = 0;
  private stagedReads = 0;

  constructor(private readonly freezeAt: number) {}

  readonly fs: FileSystem = {
    open: async (path, flags) => this.wrap(await this.alive(() => nodeFileSystem.open(path, flags))),
    mkdir: (path, options) => this.alive(() => nodeFileSystem.mkdir(path, options)),
    readdir: (path) => this.alive(() => nodeFileSystem.readdir(path)),
    stat: (path) => this.alive(() => nodeFileSystem.stat(path)),
    readFile: (path) => {
      if (path.endsWith('-checkpoint.staging') && ++this.stagedReads === 2) this.armed = true;
      return this.alive(() => nodeFileSystem.readFile(path));
    },
    rename: (from, to) => this.change(() => nodeFileSystem.rename(from, to), to),
    unlink: (path) => this.change(() => nodeFileSystem.unlink(path)),
    rm: (path, options) => this.change(() => nodeFileSystem.rm(path, options)),
  };

  private async alive<T>(operation: () => Promise<T>): Promise<T> {
    if (this.frozen) throw Object.assign(new Error('EIO: the process was killed'), { code: 'EIO' });
    return operation();
  }

  private change(operation: () => Promise<void>, to = ''): Promise<void> {
    if (this.armed && !this.frozen && this.changes++ === this.freezeAt) this.frozen = true;
    // The empty segment the log restarts with is the install's last step on its own files.
    if (this.armed && to.endsWith('.seg')) this.armed = false;
    return this.alive(operation);
  }

  private wrap(handle: FileHandle): FileHandle {
    return new Proxy(handle, {
      get: (target, property, receiver) => {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          this.alive(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
      },
    });
  }
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
      await caughtUp(leader, back);
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

  it('a live subscriber on a follower whose log a checkpoint replaces gets PositionTrimmedError, not a gap', async () => {
    const cluster = await startCluster();
    try {
      const leader = await until('a leader', () => leaderOf(cluster.logs.values()));
      await fill(leader, 0, 30, new Map());
      const follower = [...cluster.logs.values()].find((log) => log !== leader)!;
      await until(`${follower.nodeId} caught up`, () => follower.committedPosition >= leader.committedPosition);
      const behind = follower.committedPosition;
      const subscription = follower.subscribe({ from: behind + 1 });
      const next = subscription.next();
      next.catch(() => undefined);
      cluster.network.cut.add(follower.nodeId);
      await fill(leader, 30, 400, new Map());
      await retentionSettled(leader);
      assert.ok(leader.firstPosition > behind + 1, `the leader's log starts at ${leader.firstPosition}`);
      cluster.network.cut.delete(follower.nodeId);
      await caughtUp(leader, follower);
      assert.ok(follower.firstPosition > behind + 1, `${follower.nodeId} starts at ${follower.firstPosition}`);
      await assert.rejects(next, trimmed(follower.firstPosition));
    } finally {
      await closeAll(cluster.logs);
    }
  });

  it('a new member of a cluster whose history retention removed starts from a checkpoint', async () => {
    const cluster = await startCluster();
    try {
      const leader = await until('a leader', () => leaderOf(cluster.logs.values()));
      await fill(leader, 0, 300, new Map());
      await retentionSettled(leader);
      const dir = await tempDir('ordo-ret-n4');
      const joining = await openNode(cluster.network, dir, 'n4', cluster.events);
      cluster.logs.set('n4', joining);
      await leader.changeMembership({ type: 'add-learner', node: 'n4' });
      await caughtUp(leader, joining);
      assert.ok(
        cluster.events.some((e) => e.kind === 'installed' && e.checkpoint !== undefined && e.index > 0),
        `n4 installed a checkpoint (events: ${JSON.stringify(cluster.events)})`,
      );
      assert.ok(joining.firstPosition >= leader.firstPosition, `n4 starts at ${joining.firstPosition}`);
      for (const stream of ['s-0', 's-1', 's-2']) assert.equal(await joining.count(stream), 100, stream);
      const from = joining.firstPosition;
      assert.deepEqual(await served(joining, from), await served(leader, from));
    } finally {
      await closeAll(cluster.logs);
    }
  });

  it('the follower that caught up from a checkpoint can lead, and nothing acknowledged is lost', async () => {
    const cluster = await startCluster();
    const acked = new Map<string, number>();
    try {
      const { leader, back } = await lagBehindRetention(cluster, acked);
      await caughtUp(leader, back);
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

  it('a follower killed at any step of the install reopens, verifies, and catches up from a checkpoint', async () => {
    for (let freezeAt = 0; ; freezeAt++) {
      const cluster = await startCluster();
      const disk = new DyingDisk(freezeAt);
      try {
        const { leader, back, behind } = await lagBehindRetention(cluster, new Map(), disk.fs);
        await until(
          `${back.nodeId} killed or caught up`,
          () => disk.frozen || back.committedPosition >= leader.committedPosition,
          20_000,
        );
        if (!disk.frozen) {
          assert.ok(freezeAt >= 4, `the install took ${freezeAt} changes: checkpoint, log start, segments`);
          return; // every step of the install was a kill point
        }
        await back.close().catch(() => undefined);
        const dir = cluster.dirs.get(back.nodeId)!;
        assert.deepEqual((await verifyLog(dir)).problems, [], `verify after a kill at step ${freezeAt}`);
        const again = await openNode(cluster.network, dir, back.nodeId, cluster.events);
        cluster.logs.set(back.nodeId, again);
        assert.deepEqual(again.openReport.damageCuts, [], `a kill at step ${freezeAt} leaves no damage to cut`);
        await caughtUp(leader, again);
        assert.ok(
          again.firstPosition > behind + 1,
          `after a kill at step ${freezeAt}, it starts at ${again.firstPosition}`,
        );
        const from = Math.max(leader.firstPosition, again.firstPosition);
        assert.deepEqual(await served(again, from), await served(leader, from), `kill at step ${freezeAt}`);
      } finally {
        await closeAll(cluster.logs);
      }
      assert.ok(freezeAt < 40, 'the install ends within 40 changes');
    }
  });
});
