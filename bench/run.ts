/**
 * `npm run bench`: Ordo's figures beside the raw limits of this machine, measured in the same
 * run. Never part of `npm test`. Flags: --quick (shorter runs, reopen at 1M only), --only
 * <groups> (comma list of: raw, stream, embedded).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { benchEmbedded } from './embedded.js';
import { benchEventStream } from './event-stream.js';
import { benchRawDisk } from './raw-disk.js';
import { printTable, saveJson, type BenchRow } from './report.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    dir: { type: 'string' },
  },
});
const groups = new Set((values.only ?? 'raw,stream,embedded').split(','));
const quick = values.quick === true;
// The data directory decides which disk is measured; default: the OS temp directory.
const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'ordo-bench-'));
const rows: BenchRow[] = [];
const started = Date.now();
try {
  let raw: BenchRow[] = [];
  if (groups.has('raw') || groups.has('embedded')) {
    console.error('measuring the raw disk limit…');
    raw = await benchRawDisk({ dir, seconds: quick ? 1 : 2 });
    rows.push(...raw);
  }
  if (groups.has('stream')) {
    console.error('measuring EventStream fan-out…');
    rows.push(...(await benchEventStream({ events: quick ? 1_000_000 : 4_000_000 })));
  }
  if (groups.has('embedded')) {
    console.error(`measuring the embedded log (fsync always)${quick ? '' : ', including reopen at 10M events'}…`);
    rows.push(...(await benchEmbedded({ dir, raw, quick })));
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
console.log('');
printTable(rows);
console.log(`\n${rows.length} figures in ${((Date.now() - started) / 1000).toFixed(0)} s; Node ${process.version}; data under ${tmpdir()}`);
const results = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'bench', 'results', 'latest.json');
saveJson(rows, results);
console.log(`saved ${results}`);
