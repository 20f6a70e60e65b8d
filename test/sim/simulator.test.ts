import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSimulation } from '../../sim/cluster.js';
import { runSeedsParallel } from '../../sim/seeds.js';

/** CI's share of the simulator: the issue asks for ≥ 2,000 seeds of ≥ 2,000 steps, every fault kind on. */
const CI_SEEDS = 2000;
const STEPS = 2000;

describe('deterministic simulator', () => {
  it(`${CI_SEEDS} seeds × ${STEPS} steps with every fault kind: no violation`, async () => {
    const summary = await runSeedsParallel({ from: 1, count: CI_SEEDS, steps: STEPS });
    const shown = summary.failures.map(
      (f) =>
        `seed ${f.seed}: ${f.message}\n  ${f.schedule.slice(-30).join('\n  ')}\n  replay: npm run sim -- --seed ${f.seed}`,
    );
    assert.equal(summary.failures.length, 0, shown.join('\n'));
    assert.equal(summary.ran, CI_SEEDS);
    const t = summary.totals;
    // The faults really happened (a simulator that injects nothing proves nothing).
    for (const [what, n] of Object.entries(t)) assert.ok(n > 0, `${what} = ${n}`);
    console.log(`ℹ ${JSON.stringify(t)}`);
  });

  it('has teeth: granting votes without the log check (a test-only flag) is caught within 200 seeds', async () => {
    const summary = await runSeedsParallel({
      from: 1,
      count: 200,
      steps: STEPS,
      unsafe: { voteWithoutLogCheck: true },
      maxFailures: 1,
    });
    assert.ok(summary.failures.length >= 1, 'the broken rule went unnoticed');
    assert.match(
      summary.failures[0]!.message,
      /leader completeness|state machine safety|acknowledged write|raft invariant|no position holds two events|log matching/,
    );
  });

  it('has teeth: a node whose disk lost durable entries and that restarts without the recovering mark is caught within 200 seeds', async () => {
    const summary = await runSeedsParallel({
      from: 1,
      count: 200,
      steps: STEPS,
      unsafe: { unmarkedTailLoss: true },
      maxFailures: 1,
    });
    assert.ok(summary.failures.length >= 1, 'electing a leader without acknowledged entries went unnoticed');
    assert.match(summary.failures[0]!.message, /leader completeness|state machine safety|acknowledged write/);
  });

  it("has teeth: counting a learner's heartbeat ack toward a read's quorum is caught within 40 seeds of 3 voters", async () => {
    // Given 3 voters, so a deposed leader's side can hold its learners and no other voter,
    // when every node counts learners' acks like voters' toward a read point's quorum,
    const summary = await runSeedsParallel({
      from: 1,
      count: 40,
      steps: STEPS,
      voters: 3,
      unsafe: { readQuorumCountsLearners: true },
      maxFailures: 1,
    });
    // then a deposed leader confirms a read with its learners and serves it stale.
    assert.ok(summary.failures.length >= 1, "a read confirmed by a learner's ack went unnoticed");
    assert.match(summary.failures[0]!.message, /linearizable reads/);
  });

  it("has teeth: keying read points by the asker's own number is caught within 10 seeds", async () => {
    // Given nodes that each number their reads from 1, when the leader keys pending reads by
    // that number alone,
    const summary = await runSeedsParallel({
      from: 1,
      count: 10,
      steps: STEPS,
      unsafe: { readsKeyedByAskerContext: true },
      maxFailures: 1,
    });
    // then a read whose number another node's pending read holds is never answered.
    assert.ok(summary.failures.length >= 1, 'colliding read numbers went unnoticed');
    assert.match(summary.failures[0]!.message, /reads unanswered|linearizable reads/);
  });

  it("has teeth: ignoring a follower's rejection at or below its recorded match is caught within 10 seeds", async () => {
    // Given a healed cluster in which a follower's disk loses its last entries, when the
    // leader ignores that follower's rejections below the match it recorded,
    const summary = await runSeedsParallel({
      from: 1,
      count: 10,
      steps: STEPS,
      unsafe: { ignoreRejectionBelowMatch: true },
      maxFailures: 1,
    });
    // then the follower never gets its entries back.
    assert.ok(summary.failures.length >= 1, 'a follower stalled after losing entries went unnoticed');
    assert.match(summary.failures[0]!.message, /lost entries and was not sent them again/);
  });

  it('a seed replays exactly: same schedule, same outcome', () => {
    const a = runSimulation({ seed: 42, steps: STEPS });
    const b = runSimulation({ seed: 42, steps: STEPS });
    assert.deepEqual(a.schedule, b.schedule);
    assert.deepEqual(a.stats, b.stats);
    assert.equal(a.violation, undefined);
    const c = runSimulation({ seed: 43, steps: STEPS });
    assert.notDeepEqual(a.schedule, c.schedule);
  });
});
