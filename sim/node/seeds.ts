import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { runNodeSimulation, type NodeSimOptions } from './cluster.js';
import type { FaultKind, SimRates } from './faults.js';

export interface NodeSeedsOptions {
  from: number;
  count: number;
  nodes?: 3 | 5 | undefined;
  faultMs?: number | undefined;
  /** Fault kinds on (default: the default set). Arrays, to cross into a worker thread. */
  faults?: FaultKind[] | undefined;
  /** Fault rates (default: DEFAULT_RATES). */
  rates?: SimRates | undefined;
  broken?: NodeSimOptions['broken'];
  /** Which runs have whole-log retention (default: none). */
  retention?: NodeSimOptions['retention'];
  /** Stop after this many failing seeds (each is replayable on its own). */
  maxFailures?: number | undefined;
}

export interface NodeFailure {
  seed: number;
  violations: string[];
  /** The run's last trace lines: the schedule that led there. */
  trace: string[];
}

export interface NodeSeedsSummary {
  ran: number;
  failures: NodeFailure[];
  totals: Record<string, number>;
}

/** Trace lines kept for a failing seed (the whole trace replays with `--seed`). */
const FAILURE_TRACE_LINES = 80;

/** Runs consecutive seeds in this thread. */
export async function runNodeSeeds(options: NodeSeedsOptions): Promise<NodeSeedsSummary> {
  const summary: NodeSeedsSummary = { ran: 0, failures: [], totals: {} };
  for (let seed = options.from; seed < options.from + options.count; seed++) {
    const result = await runNodeSimulation({
      seed,
      nodes: options.nodes,
      faultMs: options.faultMs,
      faults: options.faults ? new Set(options.faults) : undefined,
      rates: options.rates,
      broken: options.broken,
      retention: options.retention,
    });
    summary.ran++;
    for (const [key, n] of Object.entries(result.counts)) summary.totals[key] = (summary.totals[key] ?? 0) + n;
    if (result.violations.length > 0) {
      summary.failures.push({ seed, violations: result.violations, trace: result.trace.slice(-FAILURE_TRACE_LINES) });
      if (summary.failures.length >= (options.maxFailures ?? 5)) break;
    }
  }
  return summary;
}

/** Splits the seeds over worker threads (one per core by default) and merges their summaries. */
export async function runNodeSeedsParallel(
  options: NodeSeedsOptions,
  workers = availableParallelism(),
): Promise<NodeSeedsSummary> {
  const n = Math.max(1, Math.min(workers, options.count));
  const per = Math.ceil(options.count / n);
  const parts: Array<Promise<NodeSeedsSummary>> = [];
  for (let w = 0; w < n; w++) {
    const from = options.from + w * per;
    const count = Math.min(per, options.from + options.count - from);
    if (count <= 0) break;
    parts.push(
      new Promise<NodeSeedsSummary>((resolve, reject) => {
        const worker = new Worker(new URL('./seeds-worker.js', import.meta.url), {
          workerData: { ...options, from, count },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => {
          if (code !== 0) reject(new Error(`node simulator worker exited with ${code}`));
        });
      }),
    );
  }
  const merged: NodeSeedsSummary = { ran: 0, failures: [], totals: {} };
  for (const s of await Promise.all(parts)) {
    merged.ran += s.ran;
    merged.failures.push(...s.failures);
    for (const [key, count] of Object.entries(s.totals)) merged.totals[key] = (merged.totals[key] ?? 0) + count;
  }
  merged.failures.sort((a, b) => a.seed - b.seed);
  return merged;
}
