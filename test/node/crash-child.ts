/**
 * Child process for the kill -9 test: appends pipelined batches forever and prints the result
 * of each acknowledged append on stdout, so the parent knows exactly what was acknowledged.
 */
import { open } from '../../src/node/index.js';

const dir = process.argv[2]!;
/** Each run gets its own ids: the id window survives restarts, so reused ids would conflict. */
const run = String(process.argv[3] ?? '0').padStart(8, '0');
const log = await open(dir, { segmentBytes: 256 * 1024, checkpointEvery: 500 });
let serial = 0;
const inFlight = 16;
async function writer(w: number): Promise<void> {
  for (;;) {
    const n = ++serial;
    const id = `${run}-0000-4000-8000-${String(n).padStart(12, '0')}`;
    const size = 1 + (n % 3);
    const events = Array.from({ length: size }, (_, k) => ({
      id: k === 0 ? id : `${run}-0000-4000-9000-${String(n * 4 + k).padStart(12, '0')}`,
      type: 'Tick',
      data: { n, k, pad: 'x'.repeat(n % 200) },
    }));
    const result = await log.append(`w${w}`, events);
    process.stdout.write(`${JSON.stringify({ id, stream: `w${w}`, size, ...result })}\n`);
  }
}
process.stdout.write('ready\n');
await Promise.all(Array.from({ length: inFlight }, (_, w) => writer(w % 4)));
