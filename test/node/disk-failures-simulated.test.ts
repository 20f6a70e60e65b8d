import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runNodeSimulation } from '../../sim/node/cluster.js';
import type { FaultKind } from '../../sim/node/faults.js';

/**
 * Schedules of the node simulator (real nodes on a simulated disk and network) in which a
 * failed fdatasync stops a node while it still has writes queued: a follower installing a
 * snapshot with staged batches still to read, a replication round still waiting on the
 * raft-state file. The fault set is pinned, so that a new default fault kind does not reshuffle
 * these schedules; the seeds are a fixed range, so a seed that replays exactly stays a test.
 */
const FAULTS: ReadonlySet<FaultKind> = new Set<FaultKind>([
  'drop',
  'duplicate',
  'delay',
  'partition',
  'oneWay',
  'crash',
  'powerLoss',
  'latency',
  'torn',
  'eio',
  'enospc',
]);
const FIRST_SEED = 300;
const SEEDS = 60;
/** Fewer schedules than this with a stopped node means the range no longer tests the stop. */
const MIN_STOPPING_SCHEDULES = 8;

describe('a failed fdatasync while writes are queued', () => {
  it('stops the node cleanly, every queued write heard, and the history checks out', async () => {
    // Given a cluster under faults, EIO among them, over a fixed range of schedules
    const stopping: number[] = [];
    for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
      // When each schedule runs
      const result = await runNodeSimulation({ seed, faults: FAULTS });
      // Then no acknowledged write is lost or doubled, whether or not a node stopped
      assert.deepEqual(result.violations, [], `seed ${seed}`);
      if ((result.counts.stopped ?? 0) > 0) stopping.push(seed);
    }
    // And nodes did stop on EIO in enough of them (with no unhandled rejection, which would
    // fail this test) to make the check mean something
    assert.ok(
      stopping.length >= MIN_STOPPING_SCHEDULES,
      `expected at least ${MIN_STOPPING_SCHEDULES} schedules with a stopped node, got ${stopping.length}: ${stopping.join(',')}`,
    );
  });
});
