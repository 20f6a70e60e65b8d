#!/usr/bin/env node
/**
 * `npm run sim:node -- --seeds 2000 [--from 1] [--workers W] [--nodes 3|5] [--fault-ms 600]
 * [--faults default,+eio] [--broken RULE] [--retention off|half|all]` (RULE: one of broken.ts BROKEN_RULES), or `--seed S` to replay one seed with its
 * whole trace. Runs real nodes on a simulated disk and network (sim/node/cluster.ts), one
 * worker thread per core, and prints every fault kind's count, the appends acknowledged and
 * the violations; a failing seed prints its schedule and the command that replays it.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_FAULT_MS, RETENTION_SHARES, runNodeSimulation, type RetentionShare } from './cluster.js';
import { BROKEN_RULES, type BrokenRule } from './broken.js';
import { FAULT_KINDS, parseFaults, type FaultKind } from './faults.js';
import { runNodeSeedsParallel } from './seeds.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '200' },
    seed: { type: 'string' },
    from: { type: 'string', default: '1' },
    workers: { type: 'string' },
    nodes: { type: 'string' },
    'fault-ms': { type: 'string' },
    faults: { type: 'string', default: 'default' },
    broken: { type: 'string' },
    retention: { type: 'string', default: 'off' },
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

const nodes = integer('nodes', values.nodes, 3);
if (nodes !== undefined && nodes !== 3 && nodes !== 5) {
  console.error(`--nodes must be 3 or 5, got ${nodes}`);
  process.exit(2);
}
if (values.broken !== undefined && !BROKEN_RULES.includes(values.broken as BrokenRule)) {
  console.error(`--broken takes one of ${BROKEN_RULES.join(', ')}, got '${values.broken}'`);
  process.exit(2);
}
if (!RETENTION_SHARES.includes(values.retention as RetentionShare)) {
  console.error(`--retention takes one of ${RETENTION_SHARES.join(', ')}, got '${values.retention}'`);
  process.exit(2);
}
const retention = values.retention as RetentionShare;
let faults: Set<FaultKind>;
try {
  faults = parseFaults(values.faults);
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}
const broken = values.broken as BrokenRule | undefined;
const faultMs = integer('fault-ms', values['fault-ms'], 1) ?? DEFAULT_FAULT_MS;
const flags =
  `${nodes ? ` --nodes ${nodes}` : ''} --fault-ms ${faultMs} --faults ${[...faults].join(',') || 'none'}` +
  `${broken ? ` --broken ${broken}` : ''}${retention === 'off' ? '' : ` --retention ${retention}`}`;

const single = integer('seed', values.seed, 0);
if (single !== undefined) {
  const result = await runNodeSimulation({
    seed: single,
    nodes: nodes as 3 | 5 | undefined,
    faultMs,
    faults,
    broken,
    retention,
  });
  for (const line of result.trace) console.log(line);
  for (const v of result.violations) console.log(`VIOLATION ${v}`);
  console.log(JSON.stringify(result.counts));
  process.exit(result.violations.length > 0 ? 1 : 0);
}

const started = performance.now();
const summary = await runNodeSeedsParallel(
  {
    from: integer('from', values.from, 0)!,
    count: integer('seeds', values.seeds, 1)!,
    nodes: nodes as 3 | 5 | undefined,
    faultMs,
    faults: [...faults],
    broken,
    retention,
  },
  integer('workers', values.workers, 1),
);
for (const failure of summary.failures) {
  console.log(`seed ${failure.seed}:`);
  for (const v of failure.violations.slice(0, 10)) console.log(`  VIOLATION ${v}`);
  for (const line of failure.trace) console.log(`  ${line}`);
  console.log(`  replay: node dist/sim/node/run.js --seed ${failure.seed}${flags}`);
}
const seconds = (performance.now() - started) / 1000;
const t = summary.totals;
const fired = FAULT_KINDS.filter((k) => faults.has(k)).map((k) => `${k} ${t[k] ?? 0}`);
console.log(
  `${summary.ran} seeds in ${seconds.toFixed(1)} s (${(summary.ran / seconds).toFixed(1)} seeds/s): ` +
    `${summary.failures.length} failing seeds; ${t.acked ?? 0} appends acked, ${t.failed ?? 0} failed, ` +
    `${t.unknown ?? 0} unknown, ${t.resends ?? 0} re-sends, ${t.reads ?? 0} reads, ${t.elections ?? 0} elections, ` +
    `${t.snapshotsInstalled ?? 0} snapshots installed, ${t.lifecycleChanges ?? 0} stream lifecycle changes acked (${t.erasures ?? 0} erasures), ` +
    `${t.tombstoneRefusals ?? 0} appends refused by a tombstone`,
);
console.log(
  `retention: on in ${t.retentionRuns ?? 0} seeds, ${t.retentionDroppedSegments ?? 0} segments dropped, ` +
    `${t.checkpointsInstalled ?? 0} snapshots installed from a checkpoint, ${t.finalReadsTrimmed ?? 0} final reads ` +
    `from a trimmed start, ${t.subscriberRestarts ?? 0} subscribers restarted from the start`,
);
console.log(`faults fired: ${fired.join(', ')}`);
const flips = Object.keys(t).filter((k) => k.startsWith('bitflip:'));
if (flips.length > 0) {
  const regions = flips.map((k) => `${k.slice('bitflip:'.length)} ${t[k]}`).join(', ');
  console.log(
    `bit flips by region: ${regions}; nodes retired (raft-state or log-start damage reported) ${t.retired ?? 0}; ` +
      `damage cuts at open (repaired from the leader) ${t.damageCuts ?? 0}`,
  );
}
process.exit(summary.failures.length > 0 ? 1 : 0);
