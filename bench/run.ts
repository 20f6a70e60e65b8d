/**
 * `npm run bench` (node dist/bench/run.js): Ordo beside NATS JetStream, measured in the same run
 * on the same machine (about two minutes; --quick about one). `npm run bench:full` (--full): every group,
 * Ordo's figures beside the raw limits of this machine too. Never part of `npm test`. See
 * bench/README.md.
 *
 *   --full            every group, full length
 *   --quick           shorter runs
 *   --only <groups>   comma list of: compare, raw, stream, embedded, remote, cluster, transform,
 *                     scavenge
 *                     (embedded also measures raw, its reference;
 *                     remote measures its own raw TCP req/ack reference; cluster its own single node)
 *   --dir <path>      parent of the temporary data directory (decides which disk is measured)
 *   --out <file>      where to save the JSON
 */
import { rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchEmbedded } from './embedded.js';
import { benchRemote } from './remote.js';
import { benchCluster } from './cluster.js';
import { benchTransform } from './transform.js';
import { benchEventStream } from './event-stream.js';
import { benchRawDisk } from './raw-disk.js';
import { benchScavenge } from './scavenge.js';
import { markdownTable, printTable, saveJson, type BenchRow } from './report.js';
import { COMPARE_GROUP, benchCompare, type LatencyCurve } from './compare.js';
import { writeCompareChart } from './chart.js';

const GROUPS = ['compare', 'raw', 'stream', 'embedded', 'remote', 'cluster', 'transform', 'scavenge'] as const;
type Group = (typeof GROUPS)[number];
const USAGE = [
  'usage: node dist/bench/run.js [--full | --quick]',
  `[--only ${GROUPS.join(',')}]`,
  '[--dir <path>] [--out <file>]',
].join(' ');

let values: { quick?: boolean; full?: boolean; only?: string; dir?: string; out?: string; help?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      full: { type: 'boolean', default: false },
      only: { type: 'string' },
      dir: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
// Without --only: the comparison (npm run bench), or everything with --full (npm run bench:full).
const byDefault = values.full ? GROUPS.join(',') : 'compare';
const requested = (values.only ?? byDefault)
  .split(',')
  .map((g) => g.trim())
  .filter((g) => g !== '');
const unknown = requested.filter((g) => !(GROUPS as readonly string[]).includes(g));
if (unknown.length > 0 || requested.length === 0) {
  console.error(`unknown group(s) ${unknown.join(', ') || '(none given)'}\n${USAGE}`);
  process.exit(2);
}
const groups = new Set(requested as Group[]);
const quick = values.quick === true;
const partial = values.only !== undefined;
const resultsDir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
// A partial run must not replace the full figures: it goes to results/tmp/ (not versioned).
const out = values.out
  ? resolve(values.out)
  : values.only === undefined && !values.full
    ? // npm run bench: the comparison docs/performance.md shows (a --quick one is not it)
      quick
      ? join(resultsDir, 'tmp', 'compare-quick.json')
      : join(resultsDir, 'compare.json')
    : partial
      ? join(resultsDir, 'tmp', `latest-${[...groups].join('-')}.json`)
      : join(resultsDir, 'latest.json');

/** Wall-time limits per bench (each bench also bounds every loop it runs). */
const rawSeconds = quick ? 0.75 : 1.5;
const DEADLINE_S: Record<Group, number> = {
  compare: quick ? 300 : 900,
  raw: 60 + 12 * rawSeconds,
  stream: quick ? 120 : 300,
  embedded: quick ? 600 : 1800,
  remote: quick ? 300 : 600,
  cluster: quick ? 300 : 600,
  transform: quick ? 120 : 300,
  scavenge: quick ? 180 : 300,
};

class DeadlineError extends Error {}

async function withDeadline<T>(group: Group, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DeadlineError(`${group} did not finish within ${DEADLINE_S[group]} s`)),
      DEADLINE_S[group] * 1000,
    );
  });
  try {
    return await Promise.race([work(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

// The data directory decides which disk is measured; default: the OS temp directory.
const parent = values.dir ? resolve(values.dir) : tmpdir();
const dir = await mkdtemp(join(parent, 'ordo-bench-'));
const removeDir = () => rmSync(dir, { recursive: true, force: true });
process.once('SIGINT', () => {
  removeDir();
  process.exit(130);
});

const rows: BenchRow[] = [];
const problems: string[] = [];
const started = Date.now();

function finish(): void {
  console.log('');
  printTable(rows);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(
    `\n${rows.length} figures in ${seconds} s; Node ${process.version};` +
      ` data under ${parent}${quick ? '; --quick' : ''}`,
  );
  saveJson(rows, out, {
    groups: [...groups],
    quick,
    dataDir: parent,
    ...(Object.keys(conditions).length > 0 ? { conditions, curves } : {}),
    ...(problems.length > 0 ? { problems } : {}),
  });
  console.log(`saved ${out}`);
  if (curves.length > 0) {
    for (const [key, value] of Object.entries(conditions)) console.log(`  ${key}: ${String(value)}`);
    const chart = out.replace(/\.json$/, '.svg');
    const compared = rows.filter((row) => row.group === COMPARE_GROUP);
    writeCompareChart(
      chart,
      compared,
      curves,
      `Ordo vs NATS JetStream, 100-byte messages${quick ? ' (quick run)' : ''}`,
    );
    console.log(`chart ${chart}`);
    const table = out.replace(/\.json$/, '.md');
    writeFileSync(table, markdownTable(compared));
    console.log(`table ${table}`);
  }
  for (const p of problems) console.error(`problem: ${p}`);
}

/** Runs one bench; a failure is reported and the next bench still runs. */
async function step(group: Group, label: string, work: () => Promise<BenchRow[]>): Promise<BenchRow[]> {
  console.error(`measuring ${label}…`);
  try {
    const result = await withDeadline(group, work);
    rows.push(...result);
    return result;
  } catch (error) {
    if (error instanceof DeadlineError) {
      // The bench is still running and cannot be cancelled: report what we have and exit.
      problems.push(error.message);
      removeDir();
      finish();
      process.exit(1);
    }
    problems.push(`${group}: ${(error as Error).stack ?? String(error)}`);
    return [];
  }
}

let curves: LatencyCurve[] = [];
let conditions: Record<string, unknown> = {};
try {
  if (groups.has('compare')) {
    await step('compare', 'Ordo and NATS JetStream, the same workloads in this run', async () => {
      const result = await benchCompare({ dir, quick });
      curves = result.curves;
      conditions = result.conditions;
      return result.rows;
    });
  }
  let raw: BenchRow[] = [];
  if (groups.has('raw') || groups.has('embedded')) {
    raw = await step('raw', `the raw disk limit under ${parent} (${rawSeconds} s per variant)`, () =>
      benchRawDisk({ dir, seconds: rawSeconds }),
    );
  }

  if (groups.has('stream')) {
    await step('stream', 'EventStream fan-out', () => benchEventStream({ events: quick ? 1_000_000 : 4_000_000 }));
  }

  if (groups.has('embedded')) {
    await step('embedded', `the embedded log (fsync always)${quick ? '' : ', including reopen at 10M events'}`, () =>
      benchEmbedded({ dir, raw, quick }),
    );
  }

  if (groups.has('remote')) {
    await step('remote', 'connect() to ordo serve in another process (fsync always)', () =>
      benchRemote({ dir, quick }),
    );
  }

  if (groups.has('cluster')) {
    await step('cluster', 'a 3-node cluster at quorum beside a single node (fsync always)', () =>
      benchCluster({ dir, quick }),
    );
  }
  if (groups.has('transform')) {
    await step('transform', 'deterministic transforms: 1, 2 and 3 competing instances, and one paused', () =>
      benchTransform({ dir, quick }),
    );
  }
  if (groups.has('scavenge')) {
    await step('scavenge', 'scavenging beside a raw copy, and appends beside a scavenge (fsync always)', () =>
      benchScavenge({ dir, quick }),
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
finish();
if (problems.length > 0) process.exitCode = 1;
