import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runNodeSimulation } from '../../sim/node/cluster.js';
import { DEFAULT_FAULTS } from '../../sim/node/faults.js';

/**
 * Schedules of the node simulator (real nodes on a simulated disk and network, every default
 * fault on, EIO and ENOSPC included) in which a failed fdatasync struck while a node still had
 * writes queued that it awaits only later. A seed replays exactly, so each is a fixed test.
 */
const SCHEDULES = [
  { seed: 354, what: 'a follower installing a snapshot, with staged batches still to read' },
  { seed: 374, what: 'a node whose earlier replication round still waits on the raft-state file' },
];

describe('a failed fdatasync while writes are queued', () => {
  for (const { seed, what } of SCHEDULES) {
    it(`stops the node cleanly, every queued write heard: ${what}`, async () => {
      // Given a cluster under faults whose fdatasync fails while writes are queued (seed ${seed})
      assert.ok(DEFAULT_FAULTS.has('eio'), 'the simulator injects EIO by default');
      // When the schedule runs
      const result = await runNodeSimulation({ seed });
      // Then the node stopped (and was restarted), with no unhandled rejection, and the
      // history checks out
      assert.ok((result.counts.stopped ?? 0) > 0, `a node stopped on EIO (counts ${JSON.stringify(result.counts)})`);
      assert.deepEqual(result.violations, []);
    });
  }
});
