import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { elapsedMs, percentile, rate, type BenchRow } from './report.js';

/**
 * The raw durable-write limit of the disk under `dir`, with plain node:fs and the same shapes
 * Ordo writes: N records of 100 bytes per write, each write followed by fdatasync. Ordo's
 * figures are divided by these (same disk, same run) to give the "× raw" ratios.
 */
export const RECORD_BYTES = 100;

export async function benchRawDisk(options: { dir: string; seconds?: number }): Promise<BenchRow[]> {
  const seconds = options.seconds ?? 1.5;
  const rows: BenchRow[] = [];
  for (const batch of [1, 100, 1000]) {
    const { recordsPerSecond, syncP50, syncP99 } = await writeSyncLoop(join(options.dir, `raw-${batch}.dat`), batch, seconds);
    rows.push({
      group: 'raw disk',
      name: `write+fdatasync batch=${batch}`,
      value: recordsPerSecond,
      unit: 'records/s',
      note: `fdatasync p50 ${syncP50.toFixed(0)} µs, p99 ${syncP99.toFixed(0)} µs`,
    });
  }
  rows.push({
    group: 'raw disk',
    name: 'group commit',
    value: await groupCommitLoop(join(options.dir, 'raw-group.dat'), seconds),
    unit: 'records/s',
    note: 'one fdatasync in flight; records that arrive meanwhile share the next',
  });
  return rows;
}

async function writeSyncLoop(file: string, batch: number, seconds: number) {
  const handle = await open(file, 'w');
  const buffer = Buffer.alloc(batch * RECORD_BYTES, 7);
  const syncs: number[] = [];
  let records = 0;
  let offset = 0;
  const start = process.hrtime.bigint();
  const maxRecords = 50_000_000;
  try {
    while (elapsedMs(start) < seconds * 1000 && records < maxRecords) {
      await handle.write(buffer, 0, buffer.length, offset);
      offset += buffer.length;
      const before = process.hrtime.bigint();
      await handle.datasync();
      syncs.push(Number(process.hrtime.bigint() - before) / 1000);
      records += batch;
    }
  } finally {
    await handle.close();
    await rm(file, { force: true });
  }
  const ms = elapsedMs(start);
  syncs.sort((a, b) => a - b);
  return { recordsPerSecond: rate(records, ms), syncP50: percentile(syncs, 50), syncP99: percentile(syncs, 99) };
}

/** Producers hand 100-byte records to a writer that keeps one write+fdatasync in flight. */
async function groupCommitLoop(file: string, seconds: number): Promise<number> {
  const handle = await open(file, 'w');
  const record = Buffer.alloc(RECORD_BYTES, 9);
  let queued: Buffer[] = [];
  let durable = 0;
  let offset = 0;
  let running = true;
  const start = process.hrtime.bigint();
  const producer = (async () => {
    while (running) {
      for (let i = 0; i < 1000; i++) queued.push(record);
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  try {
    while (elapsedMs(start) < seconds * 1000) {
      if (queued.length === 0) {
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      const round = queued;
      queued = [];
      const bytes = Buffer.concat(round);
      await handle.write(bytes, 0, bytes.length, offset);
      offset += bytes.length;
      await handle.datasync();
      durable += round.length;
    }
  } finally {
    running = false;
    await producer;
    await handle.close();
    await rm(file, { force: true });
  }
  return rate(durable, elapsedMs(start));
}
