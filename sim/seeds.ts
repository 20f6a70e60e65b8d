import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { runSimulation, SIM_COUNTS, type SimCounts, type SimOptions, type SimResult } from './cluster.js';

export interface SeedsOptions {
  from: number;
  count: number;
  steps: number;
  voters?: number | undefined;
  unsafe?: SimOptions['unsafe'] | undefined;
  /** Stop after this many failing seeds (each is replayable on its own). */
  maxFailures?: number;
}

export interface Failure {
  seed: number;
  message: string;
  schedule: string[];
}

export interface SeedsSummary {
  ran: number;
  failures: Failure[];
  totals: SimCounts & { maxHealMs: number };
}

/** Runs consecutive seeds in this thread. */
export function runSeeds(options: SeedsOptions): SeedsSummary {
  const summary = emptySummary();
  for (let seed = options.from; seed < options.from + options.count; seed++) {
    const result: SimResult = runSimulation({
      seed,
      steps: options.steps,
      voters: options.voters,
      unsafe: options.unsafe,
    });
    summary.ran++;
    const t = summary.totals;
    for (const key of SIM_COUNTS) t[key] += result.stats[key];
    t.maxHealMs = Math.max(t.maxHealMs, result.stats.healedInMs);
    if (result.violation) {
      summary.failures.push({ seed, message: result.violation.message, schedule: result.schedule });
      if (summary.failures.length >= (options.maxFailures ?? 5)) break;
    }
  }
  return summary;
}

/** Splits the seeds over worker threads (one per core by default) and merges their summaries. */
export async function runSeedsParallel(options: SeedsOptions, workers = availableParallelism()): Promise<SeedsSummary> {
  const n = Math.max(1, Math.min(workers, options.count));
  const per = Math.ceil(options.count / n);
  const parts: Array<Promise<SeedsSummary>> = [];
  for (let w = 0; w < n; w++) {
    const from = options.from + w * per;
    const count = Math.min(per, options.from + options.count - from);
    if (count <= 0) break;
    parts.push(
      new Promise<SeedsSummary>((resolve, reject) => {
        const worker = new Worker(new URL('./seeds-worker.js', import.meta.url), {
          workerData: { ...options, from, count },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => {
          if (code !== 0) reject(new Error(`simulator worker exited with ${code}`));
        });
      }),
    );
  }
  const summaries = await Promise.all(parts);
  const merged = emptySummary();
  for (const s of summaries) {
    merged.ran += s.ran;
    merged.failures.push(...s.failures);
    for (const key of SIM_COUNTS) merged.totals[key] += s.totals[key];
    merged.totals.maxHealMs = Math.max(merged.totals.maxHealMs, s.totals.maxHealMs);
  }
  merged.failures.sort((a, b) => a.seed - b.seed);
  return merged;
}

/** A summary of no seeds, to add runs to. */
function emptySummary(): SeedsSummary {
  const totals = { maxHealMs: 0 } as SeedsSummary['totals'];
  for (const key of SIM_COUNTS) totals[key] = 0;
  return { ran: 0, failures: [], totals };
}
