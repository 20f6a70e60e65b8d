#!/usr/bin/env node
/**
 * `npm run sim -- --seeds 2000 [--seed N] [--steps 2000] [--voters 3|5] [--unsafe vote]`
 * Runs the deterministic simulator over consecutive seeds; a failure prints its seed and
 * fault schedule, and `--seed N` replays exactly that run.
 */
import { parseArgs } from 'node:util';
import { runSimulation, type SimResult } from './cluster.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '200' },
    seed: { type: 'string' },
    from: { type: 'string', default: '1' },
    steps: { type: 'string', default: '2000' },
    voters: { type: 'string' },
    unsafe: { type: 'string' },
    verbose: { type: 'boolean', default: false },
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
if (values.unsafe !== undefined && values.unsafe !== 'vote') {
  console.error(`--unsafe takes 'vote' (grant votes without the log check), got '${values.unsafe}'`);
  process.exit(2);
}
const unsafe = values.unsafe === 'vote' ? { voteWithoutLogCheck: true } : undefined;
const single = integer('seed', values.seed, 0);
const first = single ?? integer('from', values.from, 0)!;
const count = single !== undefined ? 1 : integer('seeds', values.seeds, 1)!;

const started = performance.now();
const totals = { acked: 0, elections: 0, crashes: 0, partitions: 0, configChanges: 0, snapshots: 0, reads: 0, maxHealMs: 0 };
let failures = 0;
let ran = 0;
let lastReport = started;
for (let seed = first; seed < first + count; seed++) {
  const result: SimResult = runSimulation({ seed, steps, voters, unsafe });
  ran++;
  totals.acked += result.stats.acked;
  totals.elections += result.stats.elections;
  totals.crashes += result.stats.crashes;
  totals.partitions += result.stats.partitions;
  totals.configChanges += result.stats.configChanges;
  totals.snapshots += result.stats.snapshots;
  totals.reads += result.stats.reads;
  totals.maxHealMs = Math.max(totals.maxHealMs, result.stats.healedInMs);
  if (result.violation || values.verbose || single !== undefined) {
    if (result.violation) failures++;
    console.log(`seed ${seed}: ${result.violation ? `VIOLATION ${result.violation.message}` : 'ok'}`);
    if (result.violation || values.verbose) for (const line of result.schedule.slice(-80)) console.log(`  ${line}`);
    if (result.violation) console.log(`  replay: npm run sim -- --seed ${seed} --steps ${steps}${voters ? ` --voters ${voters}` : ''}${unsafe ? ' --unsafe vote' : ''}`);
    if (result.violation && failures >= 5) break;
  }
  if (performance.now() - lastReport > 10_000) {
    lastReport = performance.now();
    console.error(`… ${seed - first + 1}/${count} seeds`);
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `${ran} seeds × ${steps} steps in ${seconds.toFixed(1)} s: ${failures} violations; ` +
    `${totals.acked} appends acked, ${totals.elections} elections, ${totals.crashes} crashes, ${totals.partitions} partitions, ` +
    `${totals.configChanges} config changes, ${totals.snapshots} snapshots sent, ${totals.reads} reads; slowest heal ${totals.maxHealMs} ms`,
);
process.exit(failures > 0 ? 1 : 0);
