import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runChaos } from '../../chaos/harness.js';
import { formatSummary } from '../../chaos/summary.js';
import { tempDir } from '../support/temp-dir.js';

/** CI's run: 60 s against 3 real processes; `npm run chaos -- --nodes 5 --seconds 600` for a long one. */
const SECONDS = 60;

describe('chaos: real ordo serve processes under faults, checked by the history checker', () => {
  it(`${SECONDS} s, 3 nodes: kills, pauses, partitions, one-way cuts, delays, leadership transfers and membership changes lose nothing acknowledged`, async (t) => {
    const seed = Number(process.env.ORDO_CHAOS_SEED ?? Date.now() % 1_000_000);
    const result = await runChaos({ nodes: 3, seconds: SECONDS, seed, dir: await tempDir('ordo-chaos') });
    const summary = formatSummary(result);
    t.diagnostic(`seed ${seed}`);
    for (const line of summary.split('\n')) if (line.trim() !== '') t.diagnostic(line);
    assert.ok(
      result.report.summary.appends.ok > 1000,
      `the workload made progress (${result.report.summary.appends.ok} appends acknowledged)`,
    );
    assert.ok(Object.values(result.faults).reduce((a, b) => a + b, 0) >= 5, 'the nemesis injected faults');
    assert.equal(
      result.report.valid,
      true,
      `violations (seed ${seed}: ORDO_CHAOS_SEED=${seed} replays its fault schedule):\n${summary}`,
    );
    assert.equal(result.converged, true, `the replicas differ after healing (seed ${seed})`);
    assert.deepEqual(result.lifecycleViolations, [], `nodes disagree on stream lifecycles (seed ${seed})`);
    // Liveness, loosely: no fault lasts over 3 s, and a new leader takes well under that.
    assert.ok(
      result.longestOutageMs < 20_000,
      `no append was acknowledged for ${result.longestOutageMs} ms from ${result.longestOutageAt} ms (seed ${seed})`,
    );
  });
});
