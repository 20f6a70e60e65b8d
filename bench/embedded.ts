import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type EmbeddedEventLog } from '../src/node/index.js';
import { elapsedMs, findRow, formatNumber, rate, type BenchRow } from './report.js';
import { RECORD_BYTES, rawName } from './raw-disk.js';

const GROUP = 'embedded log';
const payload = new Uint8Array(RECORD_BYTES).fill(42);
const event = { type: 'Bench', data: payload };

/**
 * The embedded EventLog with fsync 'always' on the disk under `dir`, each figure beside the
 * raw limit of the same write shape measured in the same run (`raw`).
 */
export async function benchEmbedded(options: { dir: string; raw: BenchRow[]; quick?: boolean }): Promise<BenchRow[]> {
  const quick = options.quick === true;
  const rows: BenchRow[] = [];
  const ratio = (value: number, rawName: string) => {
    const raw = findRow(options.raw, 'raw disk', rawName);
    return raw ? { of: `raw ${rawName.replace('write+fdatasync ', '')}`, value: value / raw.value } : undefined;
  };
  const add = (name: string, value: number, unit: string, rawName?: string, note?: string) => {
    const row: BenchRow = { group: GROUP, name, value, unit };
    const r = rawName ? ratio(value, rawName) : undefined;
    if (r) row.ratio = r;
    if (note) row.note = note;
    rows.push(row);
  };

  const dir = join(options.dir, 'embedded');
  const log = await open(dir);
  try {
    // Sequential: one append in flight, each awaits its own fdatasync.
    {
      const seconds = quick ? 1 : 2;
      let count = 0;
      const start = process.hrtime.bigint();
      while (elapsedMs(start) < seconds * 1000) {
        await log.append('sequential', event);
        count++;
      }
      add('append 1 event, sequential', rate(count, elapsedMs(start)), 'events/s', rawName.batch(1));
    }
    // Pipelined: 1000 single-event appends in flight; group commit shares fdatasyncs.
    {
      const total = quick ? 200_000 : 500_000;
      add('append 1 event, 1000 in flight', await pipelined(log, total, 1000, 1), 'events/s', rawName.groupCommit1000);
    }
    // Batched: one append of 100 / 1000 events at a time (one fdatasync each, like the raw loop).
    for (const size of [100, 1000]) {
      const batch = Array.from({ length: size }, () => event);
      const seconds = quick ? 1.5 : 3;
      let count = 0;
      const start = process.hrtime.bigint();
      while (elapsedMs(start) < seconds * 1000) {
        await log.append(`batched-${size}`, batch);
        count += size;
      }
      add(`append ${size} events/append, sequential`, rate(count, elapsedMs(start)), 'events/s', rawName.batch(size));
    }
    // Batched and pipelined: several batches in flight share fdatasyncs.
    add(
      'append 1000 events/append, 8 in flight',
      await pipelined(log, quick ? 2_000_000 : 4_000_000, 8, 1000),
      'events/s',
      rawName.batch(1000),
    );
  } finally {
    await log.close();
  }

  // Reads of what was just written (a few million events).
  const reader = await open(dir);
  try {
    const head = await reader.headPosition();
    {
      const start = process.hrtime.bigint();
      let count = 0;
      for await (const e of reader.readAll()) count += e.data.length > 0 ? 1 : 0;
      add('readAll, whole log', rate(count, elapsedMs(start)), 'events/s', undefined, `${formatNumber(count)} events`);
      if (count !== head + 1) throw new Error(`readAll saw ${count} events, head is ${head}`);
    }
    {
      const start = process.hrtime.bigint();
      let count = 0;
      for await (const e of reader.read('batched-1000')) count += e.index >= 0 ? 1 : 0;
      add(
        'read one stream (1000-event batches)',
        rate(count, elapsedMs(start)),
        'events/s',
        undefined,
        `${formatNumber(count)} events`,
      );
    }
    {
      const start = process.hrtime.bigint();
      const subscription = reader.subscribe({ from: 0 });
      let count = 0;
      for await (const e of subscription) {
        if (!('transient' in e) && e.position === head) break;
        count++;
      }
      subscription.close();
      add(
        'subscribe catch-up from 0',
        rate(count + 1, elapsedMs(start)),
        'events/s',
        undefined,
        `${formatNumber(count + 1)} events`,
      );
    }
  } finally {
    await reader.close();
  }
  await rm(dir, { recursive: true, force: true });

  for (const size of quick ? [1_000_000] : [1_000_000, 10_000_000]) rows.push(...(await reopen(options.dir, size)));
  return rows;
}

/** Keeps `inFlight` appends of `batchSize` events outstanding until `total` events are acknowledged. */
async function pipelined(log: EmbeddedEventLog, total: number, inFlight: number, batchSize: number): Promise<number> {
  const batch = batchSize === 1 ? event : Array.from({ length: batchSize }, () => event);
  let issued = 0;
  const start = process.hrtime.bigint();
  const worker = async (w: number) => {
    while (issued < total) {
      issued += batchSize;
      await log.append(`pipelined-${batchSize}-${w % 16}`, batch);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
  return rate(issued, elapsedMs(start));
}

/** Writes `events` events over 1000 streams, then times reopen after a clean close and after a "crash". */
async function reopen(root: string, events: number): Promise<BenchRow[]> {
  const dir = join(root, `reopen-${events}`);
  const log = await open(dir);
  const batch = Array.from({ length: 1000 }, () => event);
  let written = 0;
  const writers = Array.from({ length: 8 }, async (_, w) => {
    while (written < events) {
      written += 1000;
      await log.append(`stream-${(written / 1000) % 1000}-${w}`, batch);
    }
  });
  await Promise.all(writers);
  await log.close();
  const bytes = await directoryBytes(join(dir, 'segments'));
  const label = `${formatNumber(events / 1e6)}M events`;

  let start = process.hrtime.bigint();
  const clean = await open(dir);
  const cleanMs = elapsedMs(start);
  const head = await clean.headPosition();
  await clean.close();
  if (head + 1 < events) throw new Error(`reopen found ${head + 1} events, wrote ${events}`);

  // After a crash the newest checkpoint is at most checkpointEvery (1M) events behind: the
  // worst case is replaying 1M events on top of the checkpoint before them. Without any
  // checkpoint (a log written by a process that never reached one) the whole log is replayed.
  const checkpointsDir = join(dir, 'checkpoints');
  const checkpoints = (await readdir(checkpointsDir)).sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
  const rows: BenchRow[] = [
    {
      group: GROUP,
      name: `reopen ${label}, after close`,
      value: cleanMs,
      unit: 'ms',
      note: `${formatNumber(bytes / 1e6)} MB of segments`,
    },
  ];
  if (checkpoints.length > 1) {
    await rm(join(checkpointsDir, checkpoints[checkpoints.length - 1]!));
    start = process.hrtime.bigint();
    const crashed = await open(dir);
    const crashMs = elapsedMs(start);
    const replayed = crashed.openReport.replayedEvents;
    await abandon(crashed, dir);
    rows.push({
      group: GROUP,
      name: `reopen ${label}, after crash`,
      value: crashMs,
      unit: 'ms',
      note: `checkpoint + replay of ${formatNumber(replayed)} events`,
    });
  }
  await rm(checkpointsDir, { recursive: true, force: true });
  start = process.hrtime.bigint();
  const replayedAll = await open(dir);
  const fullMs = elapsedMs(start);
  const replayed = replayedAll.openReport.replayedEvents;
  await abandon(replayedAll, dir);
  rows.push({
    group: GROUP,
    name: `reopen ${label}, no checkpoint`,
    value: fullMs,
    unit: 'ms',
    note: `full replay of ${formatNumber(replayed)} events (${formatNumber(rate(replayed, fullMs))}/s)`,
  });
  await rm(dir, { recursive: true, force: true });
  return rows;
}

/** Closes without leaving a new checkpoint behind, so the next reopen measures the same case. */
async function abandon(log: EmbeddedEventLog, dir: string): Promise<void> {
  await log.close();
  await rm(join(dir, 'checkpoints'), { recursive: true, force: true });
}

async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(join(dir, name))).size;
  return total;
}
