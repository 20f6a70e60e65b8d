#!/usr/bin/env node
/**
 * `npm run sim -- --seeds 2000 [--from 1] [--seed N] [--steps 2000] [--voters 3|5] [--unsafe vote|tail-loss|learner-acks|read-contexts|ignore-rejections] [--workers N]`
 * Runs the deterministic simulator over consecutive seeds, one worker thread per core; a
 * failure prints its seed and fault schedule, and `--seed N` replays exactly that run.
 */
import { parseArgs } from 'node:util';
import { runSimulation, type SimOptions } from './cluster.js';
import { runSeedsParallel } from './seeds.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '200' },
    seed: { type: 'string' },
    from: { type: 'string', default: '1' },
    steps: { type: 'string', default: '2000' },
    voters: { type: 'string' },
    unsafe: { type: 'string' },
    workers: { type: 'string' },
  },
});

function integer(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer ≥ ${min}, got '${text}'`);
    process.exit(2);
  }
  return n;
}

const steps = integer('steps', values.steps, 1)!;
const voters = integer('voters', values.voters, 1);
if (voters !== undefined && voters !== 3 && voters !== 5) {
  console.error(`--voters must be 3 or 5, got ${voters}`);
  process.exit(2);
}
/** The test-only broken rules `--unsafe` turns on, to see the simulator catch each. */
const UNSAFE: Record<string, { rule: NonNullable<SimOptions['unsafe']>; what: string }> = {
  vote: { rule: { voteWithoutLogCheck: true }, what: 'grant votes without the log check' },
  'tail-loss': { rule: { unmarkedTailLoss: true }, what: 'restart without the recovering mark after losing entries' },
  'learner-acks': { rule: { readQuorumCountsLearners: true }, what: "count learners' acks toward a read's quorum" },
  'read-contexts': { rule: { readsKeyedByAskerContext: true }, what: "key read points by the asker's context" },
  'ignore-rejections': {
    rule: { ignoreRejectionBelowMatch: true },
    what: "ignore a follower's rejection at or below its match",
  },
};
if (values.unsafe !== undefined && !Object.hasOwn(UNSAFE, values.unsafe)) {
  const known = Object.entries(UNSAFE).map(([name, { what }]) => `'${name}' (${what})`);
  console.error(`--unsafe takes one of ${known.join(', ')}; got '${values.unsafe}'`);
  process.exit(2);
}
const unsafe = values.unsafe === undefined ? undefined : UNSAFE[values.unsafe]!.rule;
const replay = (seed: number): string =>
  `npm run sim -- --seed ${seed} --steps` +
  ` ${steps}${voters ? ` --voters ${voters}` : ''}${unsafe ? ` --unsafe ${values.unsafe}` : ''}`;

const single = integer('seed', values.seed, 0);
if (single !== undefined) {
  const result = runSimulation({ seed: single, steps, voters, unsafe });
  console.log(`seed ${single}: ${result.violation ? `VIOLATION ${result.violation.message}` : 'ok'}`);
  for (const line of result.schedule) console.log(`  ${line}`);
  console.log(`  ${JSON.stringify(result.stats)}`);
  process.exit(result.violation ? 1 : 0);
}

const started = performance.now();
const summary = await runSeedsParallel(
  { from: integer('from', values.from, 0)!, count: integer('seeds', values.seeds, 1)!, steps, voters, unsafe },
  integer('workers', values.workers, 1),
);
for (const failure of summary.failures) {
  console.log(`seed ${failure.seed}: VIOLATION ${failure.message}`);
  for (const line of failure.schedule.slice(-60)) console.log(`  ${line}`);
  console.log(`  replay: ${replay(failure.seed)}`);
}
const t = summary.totals;
const seconds = (performance.now() - started) / 1000;
console.log(
  `${summary.ran} seeds × ${steps} steps in ${seconds.toFixed(1)} s: ${summary.failures.length} violations; ` +
    `${t.acked} appends acked, ${t.elections} elections, ${t.crashes} crashes, ${t.partitions} partitions, ` +
    `${t.configChanges} config changes (${t.jointChanges} joint), ${t.snapshots} snapshots` +
    ` sent, ${t.reads} reads; slowest heal ${t.maxHealMs} ms`,
);
process.exit(summary.failures.length > 0 ? 1 : 0);
