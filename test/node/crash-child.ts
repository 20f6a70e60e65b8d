/**
 * Child process of the crash and power-loss tests: appends pipelined batches forever (small
 * segments, frequent checkpoints) and prints `ack <json>` for each acknowledged append, so the
 * parent knows exactly what was acknowledged. Arguments: dir, run, and optionally
 * `die-after=N` (kill itself with SIGKILL `die-delay=ms` after the Nth acknowledgement, in the
 * middle of its I/O) and `report-syncs` (print `sync <file> <bytes>` for what each fdatasync of
 * a segment made durable, before the acknowledgements that depend on it), and `retention=B`
 * (retention with maxBytes B, checked every few milliseconds, removing segments as it runs),
 * and `scavenge` (a stream `doomed` keeps only its newest event, and scavenging runs every few
 * milliseconds, rewriting sealed segments as the writers append).
 */
import { statSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from '../../src/node/index.js';

const [dir, runArgument, ...flags] = process.argv.slice(2);
/** Each run gets its own ids: the id window survives restarts, so reused ids would conflict. */
const run = String(runArgument ?? '0').padStart(8, '0');
const flag = (name: string) => flags.find((f) => f.startsWith(`${name}=`))?.slice(name.length + 1);
const dieAfter = Number(flag('die-after') ?? 0);
const dieDelayMs = Number(flag('die-delay') ?? 0);
const retentionBytes = flag('retention');
const scavenging = flags.includes('scavenge');

function durabilityReporting(file: string, handle: FileHandle): FileHandle {
  // What an fdatasync makes durable: everything written before it began (the writer only extends or truncates).
  let size = statSync(file).size;
  process.stdout.write(`sync ${file} ${size}\n`);
  return new Proxy(handle, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (property === 'writev') {
        return async (buffers: Buffer[], position: number) => {
          const result = await target.writev(buffers, position);
          size = Math.max(size, position + result.bytesWritten);
          return result;
        };
      }
      if (property === 'truncate') {
        return async (length: number) => {
          await target.truncate(length);
          size = length;
        };
      }
      if (property === 'datasync' || property === 'sync') {
        return async () => {
          const durable = size;
          await (property === 'datasync' ? target.datasync() : target.sync());
          process.stdout.write(`sync ${file} ${durable}\n`);
        };
      }
      return (value as (...args: unknown[]) => unknown).bind(target);
    },
  });
}

const log = await open(dir!, {
  segmentBytes: 64 * 1024,
  checkpointEvery: 200,
  ...(retentionBytes ? { retention: { maxBytes: Number(retentionBytes), checkIntervalMs: 5 } } : {}),
  ...(flags.includes('report-syncs') ? { wrapSegmentWriter: durabilityReporting } : {}),
  ...(scavenging ? { scavenge: { intervalMs: 10, bytesPerSecond: 256 * 1024 * 1024 } } : {}),
});
if (scavenging) await log.setStreamMetadata('doomed', { maxCount: 1 });
let serial = 0;
let acked = 0;
async function writer(w: number): Promise<void> {
  for (;;) {
    const n = ++serial;
    const id = `${run}-0000-4000-8000-${String(n).padStart(12, '0')}`;
    const size = 1 + (n % 3);
    const events = Array.from({ length: size }, (_, k) => ({
      id: k === 0 ? id : `${run}-0000-4000-9000-${String(n * 4 + k).padStart(12, '0')}`,
      type: 'Tick',
      data: { n, k, pad: 'x'.repeat(n % 300) },
    }));
    const result = await log.append(`w${w}`, events);
    process.stdout.write(`ack ${JSON.stringify({ id, stream: `w${w}`, ...result })}\n`);
    if (++acked === dieAfter) setTimeout(() => process.kill(process.pid, 'SIGKILL'), dieDelayMs);
  }
}
/** Appends to `doomed`, whose events scavenging removes all but the newest of. */
async function doomedWriter(): Promise<void> {
  for (let n = 0; ; n++) await log.append('doomed', { type: 'Doomed', data: { n, pad: 'd'.repeat(500) } });
}
process.stdout.write('ready\n');
await Promise.all([...Array.from({ length: 16 }, (_, w) => writer(w % 4)), ...(scavenging ? [doomedWriter()] : [])]);
