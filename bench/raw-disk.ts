import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { open, rm, statfs, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { elapsedMs, fmt, percentile, rate, type BenchRow } from './report.js';

/**
 * The raw durable-write limit of the disk under `dir`, with plain node:fs and the shapes Ordo
 * writes: 100-byte records, N per write, each write followed by fdatasync; and group commit,
 * where producers queue records while one fdatasync runs and the next round takes them all.
 * Ordo's figures are divided by these rows (same disk, same run) to give the "× raw" ratios;
 * look them up with `findRow(rows, RAW_GROUP, rawName(...))`.
 */
export const RECORD_BYTES = 100;
export const RAW_GROUP = 'raw disk';

/** Row names, so other benches can find their reference without repeating the strings. */
export const rawName = {
  /** FileHandle `write` + `datasync` (the API Ordo uses), `batch` records per write. */
  batch: (batch: number) => `write+fdatasync batch=${batch}`,
  /** `fs.writeSync` + `fs.fdatasyncSync`, `batch` records per write. */
  syncBatch: (batch: number) => `writeSync+fdatasyncSync batch=${batch}`,
  /** Open load, one round = one writev then one fdatasync. */
  groupCommit: 'group commit',
  /** Open load, the next round's writev overlaps the previous round's fdatasync (Ordo's shape). */
  groupCommitPipelined: 'group commit, write overlaps fdatasync',
  /** At most 1000 records produced and not yet durable, pipelined. */
  groupCommit1000: 'group commit, 1000 in flight',
} as const;

export type RawDiskOptions = {
  dir: string;
  /** Time per variant (default 1.5 s). */
  seconds?: number;
  /** Bytes written per variant at most (default 512 MiB), so a fast disk cannot fill the volume. */
  maxBytes?: number;
};

const BATCHES = [1, 100, 1000] as const;
/** Records per producer chunk in the group-commit loops. */
const CHUNK_RECORDS = 100;
/** Producer loops (each queues one chunk per setImmediate turn). */
const PRODUCERS = 4;
/** Open load: records produced and not yet durable at most (10 MB), to bound memory. */
const OPEN_WINDOW = 100_000;

type LoopStats = { records: number; ms: number; syncsUs: number[] };

export async function benchRawDisk(options: RawDiskOptions): Promise<BenchRow[]> {
  const seconds = options.seconds ?? 1.5;
  const maxRecords = Math.max(1000, Math.floor((options.maxBytes ?? 512 * 2 ** 20) / RECORD_BYTES));
  const dir = options.dir;
  const warning = await memoryFilesystemWarning(dir);
  if (warning) console.error(`warning: ${warning}`);
  const rows: BenchRow[] = [];
  const add = (row: BenchRow) => {
    if (warning) row.note = `${row.note ?? ''}; ${warning}`;
    rows.push(row);
  };

  try {
    // Warm-up (file creation, JIT, thread pool), not counted.
    await promiseLoop(join(dir, 'raw-warmup.dat'), 1, Math.min(0.2, seconds / 4), maxRecords, emptyStats());

    // Batches: FileHandle and sync API, alternated in two halves (A B A B) so that drift of the
    // disk or the VM during the run does not favour whichever runs first.
    for (const batch of BATCHES) {
      const viaPromises = emptyStats();
      const viaSync = emptyStats();
      const file = join(dir, `raw-batch-${batch}.dat`);
      for (let half = 0; half < 2; half++) {
        await promiseLoop(file, batch, seconds / 2, maxRecords / 2, viaPromises);
        syncLoop(file, batch, seconds / 2, maxRecords / 2, viaSync);
      }
      const p = rate(viaPromises.records, viaPromises.ms);
      const s = rate(viaSync.records, viaSync.ms);
      add({
        group: RAW_GROUP,
        name: rawName.batch(batch),
        value: p,
        unit: 'records/s',
        note: `fs.promises FileHandle; ${syncNote(viaPromises)}`,
      });
      const faster =
        s >= p ? `sync API ${fmt((s / p - 1) * 100)}% faster` : `sync API ${fmt((1 - s / p) * 100)}% slower`;
      add({
        group: RAW_GROUP,
        name: rawName.syncBatch(batch),
        value: s,
        unit: 'records/s',
        ratio: { of: 'FileHandle', value: s / p },
        note: `${faster}; ${syncNote(viaSync)}`,
      });
    }

    // Group commit (only with the asynchronous API: producers must run while fdatasync does).
    const variants = [
      { name: rawName.groupCommit, pipelined: false, window: OPEN_WINDOW },
      { name: rawName.groupCommitPipelined, pipelined: true, window: OPEN_WINDOW },
      { name: rawName.groupCommit1000, pipelined: true, window: 1000 },
    ];
    for (const v of variants) {
      const g = await groupCommitLoop(join(dir, 'raw-group.dat'), {
        seconds,
        maxRecords,
        pipelined: v.pipelined,
        window: v.window,
      });
      add({
        group: RAW_GROUP,
        name: v.name,
        value: rate(g.records, g.ms),
        unit: 'records/s',
        note: `${fmt(g.records / Math.max(1, g.syncsUs.length))} records/fdatasync; ${syncNote(g)}`,
      });
    }
  } finally {
    for (const name of ['raw-warmup.dat', 'raw-group.dat', ...BATCHES.map((b) => `raw-batch-${b}.dat`)]) {
      await rm(join(dir, name), { force: true });
    }
  }
  return rows;
}

function emptyStats(): LoopStats {
  return { records: 0, ms: 0, syncsUs: [] };
}

function syncNote(stats: LoopStats): string {
  const sorted = [...stats.syncsUs].sort((a, b) => a - b);
  return `fdatasync p50 ${fmt(percentile(sorted, 50))} µs, p99 ${fmt(percentile(sorted, 99))} µs`;
}

/** fh.write + fh.datasync of `batch` records at a time, appending to a new file. */
async function promiseLoop(
  file: string,
  batch: number,
  seconds: number,
  maxRecords: number,
  into: LoopStats,
): Promise<void> {
  const handle = await open(file, 'w');
  const buffer = Buffer.alloc(batch * RECORD_BYTES, 7);
  let records = 0;
  let offset = 0;
  const start = process.hrtime.bigint();
  try {
    while (records < maxRecords && elapsedMs(start) < seconds * 1000) {
      await writeAll(handle, [buffer], offset);
      offset += buffer.length;
      const before = process.hrtime.bigint();
      await handle.datasync();
      into.syncsUs.push(elapsedMs(before) * 1000);
      records += batch;
    }
    into.ms += elapsedMs(start);
    into.records += records;
  } finally {
    await handle.close();
    await rm(file, { force: true });
  }
}

/** fs.writeSync + fs.fdatasyncSync, the same loop without the thread-pool round trips. */
function syncLoop(file: string, batch: number, seconds: number, maxRecords: number, into: LoopStats): void {
  const fd = openSync(file, 'w');
  const buffer = Buffer.alloc(batch * RECORD_BYTES, 7);
  let records = 0;
  let offset = 0;
  const start = process.hrtime.bigint();
  try {
    while (records < maxRecords && elapsedMs(start) < seconds * 1000) {
      let done = 0;
      while (done < buffer.length) done += writeSync(fd, buffer, done, buffer.length - done, offset + done);
      offset += buffer.length;
      const before = process.hrtime.bigint();
      fdatasyncSync(fd);
      into.syncsUs.push(elapsedMs(before) * 1000);
      records += batch;
    }
    into.ms += elapsedMs(start);
    into.records += records;
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
}

/**
 * Group commit against plain node:fs. PRODUCERS loops each queue one chunk of CHUNK_RECORDS
 * fresh records per setImmediate turn while fewer than `window` records are produced and not
 * yet durable. The writer takes everything queued as one round (one writev). Serial: the round
 * is then fdatasynced before the next one is taken, so one fdatasync is in flight and every
 * record that arrives while it runs shares the next. Pipelined: the next round is written while
 * the previous round's fdatasync runs, and each fdatasync covers everything written before it
 * began (Ordo's two-stage pipeline). Records count once an fdatasync that began after their
 * write completed has returned.
 */
async function groupCommitLoop(
  file: string,
  options: { seconds: number; maxRecords: number; pipelined: boolean; window: number },
): Promise<LoopStats> {
  const handle = await open(file, 'w');
  const template = Buffer.alloc(CHUNK_RECORDS * RECORD_BYTES, 9);
  const stats = emptyStats();
  let queue: Buffer[] = [];
  let queuedRecords = 0;
  let produced = 0;
  let written = 0;
  let durable = 0;
  let offset = 0;
  let stopped = false;
  let wakeWriter: (() => void) | undefined;
  let endMs = 0;
  const start = process.hrtime.bigint();

  const stop = () => {
    if (stopped) return;
    stopped = true;
    endMs = elapsedMs(start);
    wakeWriter?.();
  };
  const producer = async () => {
    while (!stopped) {
      if (produced - durable < options.window) {
        const chunk = Buffer.allocUnsafe(template.length);
        template.copy(chunk);
        queue.push(chunk);
        queuedRecords += CHUNK_RECORDS;
        produced += CHUNK_RECORDS;
        if (wakeWriter) {
          const wake = wakeWriter;
          wakeWriter = undefined;
          wake();
        }
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const sync = async () => {
    const target = written;
    const before = process.hrtime.bigint();
    await handle.datasync();
    if (stopped) return;
    stats.syncsUs.push(elapsedMs(before) * 1000);
    durable = target;
    if (elapsedMs(start) >= options.seconds * 1000 || durable >= options.maxRecords) stop();
  };
  let syncing: Promise<void> | undefined;
  const syncStage = async () => {
    try {
      while (!stopped && durable < written) await sync();
    } finally {
      syncing = undefined;
    }
  };
  const writer = async () => {
    while (!stopped) {
      if (queue.length === 0) {
        await new Promise<void>((resolve) => (wakeWriter = resolve));
        continue;
      }
      const round = queue;
      const records = queuedRecords;
      queue = [];
      queuedRecords = 0;
      await writeAll(handle, round, offset);
      offset += records * RECORD_BYTES;
      written += records;
      if (!options.pipelined) await sync();
      else syncing ??= syncStage();
    }
  };

  try {
    await Promise.all([writer(), ...Array.from({ length: PRODUCERS }, producer)]);
    await syncing;
  } finally {
    stop();
    await handle.close();
    await rm(file, { force: true });
  }
  stats.records = durable;
  stats.ms = endMs;
  return stats;
}

/** One writev of `buffers` at `position`, finishing a short write if there is one. */
async function writeAll(handle: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  const total = buffers.reduce((sum, b) => sum + b.length, 0);
  let done = (await handle.writev(buffers, position)).bytesWritten;
  if (done === total) return;
  const rest = Buffer.concat(buffers);
  while (done < total) done += (await handle.write(rest, done, total - done, position + done)).bytesWritten;
}

const MEMORY_FILESYSTEMS = new Map([
  [0x01021994, 'tmpfs'],
  [0x858458f6, 'ramfs'],
]);

/** A warning when `dir` is in memory (tmpfs, ramfs): fdatasync is then a no-op. */
async function memoryFilesystemWarning(dir: string): Promise<string | undefined> {
  try {
    const name = MEMORY_FILESYSTEMS.get((await statfs(dir)).type);
    return name ? `${dir} is on ${name}: fdatasync does nothing, use --dir on a real disk` : undefined;
  } catch {
    return undefined;
  }
}
