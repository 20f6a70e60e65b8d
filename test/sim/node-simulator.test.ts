import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runNodeSimulation } from '../../sim/node/cluster.js';
import { DEFAULT_FAULTS, DEFAULT_RATES, type FaultKind, type SimRates } from '../../sim/node/faults.js';
import type { BrokenRule } from '../../sim/node/broken.js';
import { runNodeSeeds, runNodeSeedsParallel, type NodeSeedsSummary } from '../../sim/node/seeds.js';
import { DEFAULT_DISK_RATES, SimDisk } from '../../sim/node/sim-fs.js';
import { VirtualTime } from '../../sim/node/virtual-time.js';
import { seededRandom } from '../../src/raft/index.js';

/** CI's share of the node simulator: short runs (600 virtual ms of faults each), every default fault kind on. */
const CI_SEEDS = 2000;

function shown(summary: NodeSeedsSummary): string {
  return summary.failures
    .map(
      (f) =>
        `seed ${f.seed}: ${f.violations.slice(0, 5).join('\n  ')}\n  ${f.trace.slice(-30).join('\n  ')}\n` +
        `  replay: node dist/sim/node/run.js --seed ${f.seed}`,
    )
    .join('\n');
}

describe('node simulator: real nodes on a simulated disk and network', () => {
  it(`${CI_SEEDS} seeds with the default faults: no violation, and every fault kind fired`, async () => {
    const started = performance.now();
    const summary = await runNodeSeedsParallel({ from: 1, count: CI_SEEDS });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(summary.failures.length, 0, shown(summary));
    assert.equal(summary.ran, CI_SEEDS);
    const t = summary.totals;
    // A simulator that injects nothing proves nothing.
    for (const kind of DEFAULT_FAULTS) assert.ok((t[kind] ?? 0) > 0, `${kind} never fired`);
    assert.ok((t.acked ?? 0) > CI_SEEDS * 50, `only ${t.acked} appends acknowledged`);
    assert.ok((t.snapshotsInstalled ?? 0) > 0, 'no snapshot was installed');
    for (const region of ['segmentBatch', 'segmentHeader', 'checkpoint', 'raftState'])
      assert.ok((t[`bitflip:${region}`] ?? 0) > 0, `no bit flipped in a ${region}`);
    console.log(`ℹ ${(CI_SEEDS / seconds).toFixed(1)} seeds/s; ${JSON.stringify(t)}`);
  });

  it('has teeth: nodes that acknowledge before fdatasync are caught within 40 seeds', async () => {
    // (A node that lost unsynced writes it had acknowledged may also just stall, recovering: the
    // loss itself must show within a few failing seeds.)
    const summary = await runNodeSeedsParallel({ from: 1, count: 40, broken: 'ack-before-fsync', maxFailures: 3 });
    assert.ok(summary.failures.length >= 1, 'acknowledging before fdatasync went unnoticed');
    const all = summary.failures.flatMap((f) => f.violations).join('\n');
    assert.match(all, /lost|inconsistent-position|differs/);
  });

  /**
   * Runs seeds from 1 with `broken` until the first failing one (at most `count`), in this
   * thread: each variant's first catch is a few dozen seeds in, a few seconds.
   */
  async function firstCatch(
    broken: BrokenRule,
    count: number,
    rates?: SimRates,
    faults?: FaultKind[],
  ): Promise<string> {
    const summary = await runNodeSeeds({ from: 1, count, broken, maxFailures: 1, rates, faults });
    assert.equal(summary.failures.length, 1, `${broken} went unnoticed for ${count} seeds`);
    return summary.failures[0]!.violations.join('\n');
  }

  it('has teeth: a checkpoint without the retry keys is caught within 60 seeds, by a re-send written twice', async () => {
    // Given nodes whose checkpoints drop the clients' retry keys, and clients that lose answers and re-send
    // When they run under the default faults (a leader restarts, loads its checkpoint, is elected again)
    const violations = await firstCatch('checkpoint-without-retry-keys', 60);
    // Then the re-send that reached it is written a second time
    assert.match(violations, /duplicate: event/);
  });

  it("has teeth: a checkpoint without the streams' lifecycles is caught within 20 seeds", async () => {
    // Given nodes whose checkpoints drop stream metadata, deletions and tombstones
    // When a node reopens from such a checkpoint (a restart after a metadata change or a tombstone)
    const violations = await firstCatch('checkpoint-without-lifecycles', 20);
    // Then its view of a stream's lifecycle differs from what the metadata stream says
    assert.match(violations, /lifecycle: n\d says .* its metadata stream says/);
  });

  it('has teeth: a node that answers its pending appends STORAGE_FAILED when fdatasync fails is caught within 20 seeds', async () => {
    // Given nodes that answer what was pending at a failed fdatasync with a definite failure
    // When a failed append's entry is committed by the followers (or read back after the restart)
    const violations = await firstCatch('eio-fails-appends', 20);
    // Then an append the client was told had failed is in the log
    assert.match(violations, /aborted-read: .* failed \(STORAGE_FAILED\) but is visible/);
  });

  it('has teeth: recovery that cuts at a bad batch length as if it were a torn tail is caught within 80 seeds', async () => {
    // Given nodes whose recovery cuts the newest segment at a batch whose length is out of range or
    // runs past the end, and a disk where every crash flips a bit (aimed at batch lengths often)
    const everyCrashFlips = { ...DEFAULT_RATES, disk: { ...DEFAULT_RATES.disk, bitflip: 1 } };
    // When a flip hits the length of a batch with fdatasynced batches after it
    const violations = await firstCatch('bad-length-is-torn', 80, everyCrashFlips);
    // Then the node reopens without those batches and without marking itself recovering
    assert.match(
      violations,
      /reopened at .* not marked recovering, but .* holds \d+ bytes of the \d+ it had fdatasynced/,
    );
  });

  it('has teeth: a commit index beyond the log, quietly lowered, is caught within 30 seeds', async () => {
    // Given nodes that lower a persisted commit index beyond their log's end instead of marking
    // themselves recovering, and disks that lose the end of a segment at every crash they may
    const faults: FaultKind[] = [...DEFAULT_FAULTS, 'lostTail'];
    const everyCrashLosesTail = { ...DEFAULT_RATES, disk: { ...DEFAULT_RATES.disk, lostTail: 1 } };
    // When a node reopens without entries its commit index says were committed
    const violations = await firstCatch('commit-beyond-log-lowered', 30, everyCrashLosesTail, faults);
    // Then it comes back not marked recovering, though it lost entries it had fdatasynced
    assert.match(
      violations,
      /reopened at .* not marked recovering, but .* holds \d+ bytes of the \d+ it had fdatasynced/,
    );
  });

  it('a seed replays exactly: same trace, same counts', async () => {
    const a = await runNodeSimulation({ seed: 42 });
    const b = await runNodeSimulation({ seed: 42 });
    assert.deepEqual(a.violations, []);
    assert.deepEqual(a.trace, b.trace);
    assert.deepEqual(a.counts, b.counts);
    const c = await runNodeSimulation({ seed: 43 });
    assert.notDeepEqual(a.trace, c.trace);
  });
});

describe('simulated disk', () => {
  function disk(): SimDisk {
    return new SimDisk(new VirtualTime(), seededRandom(1), new Set(), DEFAULT_DISK_RATES, () => 0);
  }

  it('keeps an fdatasynced file whose directory entry was fsynced, and loses an unsynced one', async () => {
    // Given a file written and fdatasynced, its directory fsynced, and a second file never fsynced
    const d = disk();
    const fs = d.mount();
    await fs.mkdir('/data', { recursive: true });
    await (await fs.open('/', 'r')).sync();
    const kept = await fs.open('/data/kept', 'w');
    await kept.write(Buffer.from('durable'), 0, 7, 0);
    await kept.datasync();
    await (await fs.open('/data', 'r')).sync();
    const lost = await fs.open('/data/lost', 'w');
    await lost.write(Buffer.from('gone'), 0, 4, 0);
    await lost.datasync();
    // When the power fails
    d.crash();
    // Then the synced file and entry survive, the file without its directory's fsync does not
    const after = d.mount();
    assert.deepEqual(await after.readdir('/data'), ['kept']);
    assert.equal((await after.readFile('/data/kept')).toString(), 'durable');
  });

  it('flips a bit of a durable data file at a crash, only when the nemesis allows it, and never in LOCK', async () => {
    // Given a disk whose every crash flips a bit, holding a synced LOCK and a synced data file
    const d = new SimDisk(
      new VirtualTime(),
      seededRandom(1),
      new Set(['bitflip']),
      { ...DEFAULT_DISK_RATES, bitflip: 1 },
      () => 0,
    );
    const fs = d.mount();
    await fs.mkdir('/data', { recursive: true });
    await (await fs.open('/', 'r')).sync();
    for (const [name, text] of [
      ['LOCK', '4242'],
      ['segment', 'x'.repeat(64)],
    ] as const) {
      const file = await fs.open(`/data/${name}`, 'w');
      await file.write(Buffer.from(text), 0, text.length, 0);
      await file.datasync();
    }
    await (await fs.open('/data', 'r')).sync();
    // When the power fails once with flips held back, then twice with them allowed
    d.crash(false);
    const heldBack = d.counts.bitflip;
    d.crash(true);
    d.crash(true);
    // Then only the allowed crashes flipped, each one bit of the data file, and the LOCK is intact
    assert.equal(heldBack, 0);
    assert.equal(d.counts.bitflip, 2);
    const after = d.mount();
    assert.equal((await after.readFile('/data/LOCK')).toString(), '4242');
    assert.match(d.lastFlip ?? '', /^\/data\/segment@/);
  });

  it('loses writes made after the last fdatasync, and a crashed process never hears back', async () => {
    // Given a synced write, then an unsynced one, with no fault kind on (no torn writes)
    const d = disk();
    const fs = d.mount();
    await (await fs.open('/', 'r')).sync();
    const file = await fs.open('/f', 'w');
    await file.write(Buffer.from('abc'), 0, 3, 0);
    await file.datasync();
    await (await fs.open('/', 'r')).sync();
    await file.write(Buffer.from('def'), 0, 3, 3);
    // When the power fails
    d.crash();
    // Then the file holds the synced bytes and a prefix of the unsynced ones, and the old process's calls hang
    const text = (await d.mount().readFile('/f')).toString();
    assert.ok(text === 'abc' || text === 'abcdef', text);
    let answered = false;
    void file.read(Buffer.alloc(3), 0, 3, 0).then(() => (answered = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(answered, false);
  });
});
