import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runChaos } from './harness.js';
import { formatSummary, passed } from './summary.js';

/**
 * `npm run chaos -- --nodes 3|5 --seconds N [--seed N] [--dir D] [--clients N]`: a bounded
 * Jepsen-style run against real `ordo serve` processes on loopback (chaos/harness.ts). Prints
 * a summary table and exits 1 on any violation or a cluster that did not converge.
 */
const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string' },
    dir: { type: 'string' },
    clients: { type: 'string', default: '4' },
    quiet: { type: 'boolean', default: false },
  },
});
const nodes = Number(values.nodes);
const seconds = Number(values.seconds);
if (nodes !== 3 && nodes !== 5) throw new Error(`--nodes must be 3 or 5, got ${values.nodes}`);
if (!Number.isInteger(seconds) || seconds < 5 || seconds > 86_400)
  throw new Error(`--seconds must be an integer in [5, 86400], got ${values.seconds}`);
const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 1_000_000;
const dir = values.dir ?? (await mkdtemp(join(tmpdir(), 'ordo-chaos-')));
console.log(`chaos: ${nodes} nodes, ${seconds} s, seed ${seed}, data under ${dir}`);
const result = await runChaos({
  nodes,
  seconds,
  seed,
  dir,
  clients: Number(values.clients),
  log: values.quiet ? undefined : (line) => console.log(`  ${new Date().toISOString().slice(11, 23)}  ${line}`),
});
console.log(formatSummary(result));
process.exitCode = passed(result) ? 0 : 1;
