import { open as openFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { open, type EmbeddedEventLog, type OpenOptions } from '../src/node/index.js';
import { DEFAULT_SCAVENGE_BYTES_PER_SECOND } from '../src/node/scavenge-options.js';
import type { ScavengeResult } from '../src/node/scavenger.js';
import { REWRITE_CHUNK_BYTES } from '../src/storage/segment-rewrite.js';
import { elapsedMs, fmt, fmtRatio, rate, type BenchRow } from './report.js';
import { RECORD_BYTES } from './raw-disk.js';

/**
 * Scavenging on the disk under `dir`: how fast a pass rewrites sealed segments, beside a
 * durable raw copy of the same files in the same run; and what a pass at the default pace
 * costs appends running beside it. Each log is built fresh: half of its events are in streams
 * whose `maxCount: 1` then hides all but their newest event, so a pass turns about half the
 * records of every sealed segment into holes.
 */
export const SCAVENGE_GROUP = 'scavenge';

export type ScavengeBenchOptions = { dir: string; quick?: boolean };

/** A pace no disk reaches (the pass still yields to the event loop after each chunk). */
const UNLIMITED_BYTES_PER_SECOND = 2 ** 40;
/** Long enough that no background pass starts during the bench: only `scavenge()` runs. */
const NO_BACKGROUND_MS = 3_600_000;
const STREAMS = 1000;
const BATCH = 1000;
const BUILD_IN_FLIGHT = 8;
/** No single loop of this bench runs longer than this. */
const LOOP_SECONDS = 30;
const MB = 1e6;

const payload = new Uint8Array(RECORD_BYTES).fill(42);
const batch = Array.from({ length: BATCH }, () => ({ type: 'Bench', data: payload }));

/** A fixed append workload run beside a pass: `events` in appends of `size`, `inFlight` at a time. */
type AppendLoad = { name: string; events: number; size: number; inFlight: number };
type LoadRun = { events: number; ms: number; start: bigint; end: bigint };

export async function benchScavenge(options: ScavengeBenchOptions): Promise<BenchRow[]> {
  const quick = options.quick === true;
  // About 160 MB per million events: 2 (quick) or 4 sealed 64 MiB segments, and the active one.
  const events = quick ? 1_000_000 : 2_000_000;
  const rows: BenchRow[] = [];
  // The raw copy (first row) is the reference of both passes.
  const fast = await paceRun(options.dir, 'fast', events, UNLIMITED_BYTES_PER_SECOND, true);
  const reference = fast[0]!.value;
  const paced = await paceRun(options.dir, 'default', events, DEFAULT_SCAVENGE_BYTES_PER_SECOND, false);
  for (const row of [...fast.slice(1), ...paced]) row.ratio = { of: 'raw copy', value: row.value / reference };
  rows.push(...fast, ...paced);
  const loads: AppendLoad[] = [
    { name: 'append 1 event, 1000 in flight', events: quick ? 200_000 : 500_000, size: 1, inFlight: 1000 },
    { name: 'append 1000 events/append, 8 in flight', events: quick ? 1_000_000 : 2_000_000, size: BATCH, inFlight: 8 },
  ];
  rows.push(...(await appendsBeside(options.dir, events, loads)));
  return rows;
}

/**
 * Builds a log, then scavenges it with `bytesPerSecond`, timing the whole `scavenge()`. With
 * `withCopy`, first copies its sealed segments durably (the reference row, returned first).
 */
async function paceRun(
  root: string,
  label: string,
  events: number,
  bytesPerSecond: number,
  withCopy: boolean,
): Promise<BenchRow[]> {
  const dir = join(root, `scavenge-${label}`);
  const log = await buildLog(dir, events, bytesPerSecond);
  const rows: BenchRow[] = [];
  try {
    const sealed = log.status().segments.slice(0, -1);
    if (withCopy) rows.push(await rawCopy(sealed.map((s) => s.file)));
    await hideHalf(log);
    const start = process.hrtime.bigint();
    const result = await log.scavenge();
    const ms = elapsedMs(start);
    checkRewrote(result, sealed.length);
    const bases = new Set(sealed.map((s) => s.base));
    const written = log
      .status()
      .segments.filter((s) => bases.has(s.base))
      .map((s) => s.bytes);
    const read = sealed.map((s) => s.bytes);
    rows.push(passRow(bytesPerSecond, result, read, written, ms));
  } finally {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

/** The pass's row: MB/s of sealed segments read (and rewritten), with the rate of all its I/O (what the pace bounds). */
function passRow(
  bytesPerSecond: number,
  result: ScavengeResult,
  read: number[],
  written: number[],
  ms: number,
): BenchRow {
  const readBytes = sum(read);
  const ioRate = (readBytes + sum(written)) / MB / (ms / 1000);
  return {
    group: SCAVENGE_GROUP,
    name: `scavenge, pace ${paceLabel(bytesPerSecond)}`,
    value: readBytes / MB / (ms / 1000),
    unit: 'MB/s',
    note:
      `${result.segmentsRewritten} segments: ${fmt(readBytes / MB)} MB read, ${fmt(sum(written) / MB)} MB written` +
      ` in ${fmt(ms / 1000)} s (reads and writes together ${fmt(ioRate)} MB/s); ${fmt(result.holes)} holes`,
  };
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function paceLabel(bytesPerSecond: number): string {
  if (bytesPerSecond === UNLIMITED_BYTES_PER_SECOND) return '1 TiB/s';
  const default_ = bytesPerSecond === DEFAULT_SCAVENGE_BYTES_PER_SECOND ? ', the default' : '';
  return `${fmt(bytesPerSecond / 2 ** 20)} MiB/s${default_}`;
}

/** A pass that rewrote less than every sealed segment measured something else: fail loudly. */
function checkRewrote(result: ScavengeResult, sealed: number): void {
  if (result.segmentsRewritten !== sealed || result.holes === 0)
    throw new Error(
      `scavenge rewrote ${result.segmentsRewritten} of ${sealed} sealed segments with ${result.holes} holes`,
    );
}

/**
 * `events` events over STREAMS streams in batches of BATCH, BUILD_IN_FLIGHT appends at a time;
 * batches alternate between the streams to be trimmed and the kept ones, so every segment
 * holds both. Closed and reopened with the pace measured (and no background scrub or passes).
 */
async function buildLog(dir: string, events: number, bytesPerSecond: number): Promise<EmbeddedEventLog> {
  const options: OpenOptions = { scrub: false, scavenge: { intervalMs: NO_BACKGROUND_MS, bytesPerSecond } };
  const log = await open(dir, options);
  let issued = 0;
  const start = process.hrtime.bigint();
  const writer = async () => {
    while (issued < events && elapsedMs(start) < LOOP_SECONDS * 1000) {
      const k = issued / BATCH;
      issued += BATCH;
      await log.append(streamName(k % STREAMS), batch);
    }
  };
  try {
    await Promise.all(Array.from({ length: BUILD_IN_FLIGHT }, writer));
  } finally {
    await log.close();
  }
  return open(dir, options);
}

/** Even-numbered streams are trimmed to their newest event; odd ones are kept whole. */
function streamName(n: number): string {
  return n % 2 === 0 ? `trimmed-${n}` : `kept-${n}`;
}

/** Hides all but the newest event of every trimmed stream: about half of the log's records. */
async function hideHalf(log: EmbeddedEventLog): Promise<void> {
  for (let n = 0; n < STREAMS; n += 2) await log.setStreamMetadata(streamName(n), { maxCount: 1 });
}

/**
 * The reference: each file read and written to a new file beside it in 1 MiB chunks through
 * FileHandle, then fdatasynced (what a rewrite does, without looking at the records); MB/s of
 * the files read.
 */
async function rawCopy(files: string[]): Promise<BenchRow> {
  const buffer = Buffer.allocUnsafe(REWRITE_CHUNK_BYTES);
  let bytes = 0;
  const start = process.hrtime.bigint();
  for (const file of files) {
    const source = await openFile(file, 'r');
    const target = await openFile(`${file}.copy`, 'w');
    try {
      for (let at = 0; elapsedMs(start) < LOOP_SECONDS * 1000; ) {
        const { bytesRead } = await source.read(buffer, 0, REWRITE_CHUNK_BYTES, at);
        if (bytesRead === 0) break;
        let done = 0;
        while (done < bytesRead) done += (await target.write(buffer, done, bytesRead - done, at + done)).bytesWritten;
        at += bytesRead;
        bytes += bytesRead;
      }
      await target.datasync();
    } finally {
      await source.close();
      await target.close();
      await rm(`${file}.copy`, { force: true });
    }
  }
  const ms = elapsedMs(start);
  return {
    group: SCAVENGE_GROUP,
    name: 'raw copy of the sealed segments',
    value: bytes / MB / (ms / 1000),
    unit: 'MB/s',
    note: `${files.length} files, ${fmt(bytes / MB)} MB; read+write in 1 MiB chunks, fdatasync per file`,
  };
}

/**
 * Each append workload on one fresh log: alone, then while `scavenge()` runs at the default
 * pace, then alone again; "alone" is the mean of the two runs around, so drift of the
 * disk during the run does not favour either side.
 */
async function appendsBeside(root: string, events: number, loads: AppendLoad[]): Promise<BenchRow[]> {
  const dir = join(root, 'scavenge-beside');
  const log = await buildLog(dir, events, DEFAULT_SCAVENGE_BYTES_PER_SECOND);
  const rows: BenchRow[] = [];
  try {
    const before = [];
    for (const load of loads) before.push(await appendLoad(log, load));
    await hideHalf(log);
    let scavengeEnd: bigint | undefined;
    // A pass holes a whole segment in one synchronous step; the note says how long that stalls.
    const stalls = monitorEventLoopDelay({ resolution: 10 });
    stalls.enable();
    const scavenging = log.scavenge().finally(() => {
      scavengeEnd = process.hrtime.bigint();
      stalls.disable();
    });
    const beside = [];
    for (const load of loads) beside.push(await appendLoad(log, load));
    await scavenging;
    for (const [i, load] of loads.entries()) {
      const after = await appendLoad(log, load);
      const pass = { end: scavengeEnd, stallMs: stalls.max / 1e6 };
      rows.push(...besideRows(load, [before[i]!, after], beside[i]!, pass));
    }
  } finally {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

function besideRows(
  load: AppendLoad,
  alone: LoadRun[],
  beside: LoadRun,
  pass: { end: bigint | undefined; stallMs: number },
): BenchRow[] {
  const scavengeEnd = pass.end;
  const aloneRates = alone.map((run) => rate(run.events, run.ms));
  const aloneRate = sum(aloneRates) / aloneRates.length;
  const besideRate = rate(beside.events, beside.ms);
  const ratio = besideRate / aloneRate;
  const overlap =
    scavengeEnd === undefined || scavengeEnd >= beside.end
      ? 'the scavenge ran throughout'
      : `the scavenge ran for ${fmt((100 * Number(scavengeEnd - beside.start)) / Number(beside.end - beside.start))}% of it`;
  return [
    {
      group: SCAVENGE_GROUP,
      name: `${load.name}, alone`,
      value: aloneRate,
      unit: 'events/s',
      note: `${fmt(load.events)} events; mean of before and after the scavenge: ${aloneRates.map(fmt).join(', ')}`,
    },
    {
      group: SCAVENGE_GROUP,
      name: `${load.name}, during scavenge`,
      value: besideRate,
      unit: 'events/s',
      ratio: { of: 'alone', value: ratio },
      note:
        `target ≥ 0.8× alone (${ratio >= 0.8 ? 'met' : 'missed'}: ${fmtRatio(ratio)}×); ${overlap};` +
        ` longest event-loop stall during the pass ${fmt(pass.stallMs)} ms`,
    },
  ];
}

/** Runs `load` to its count of events (or LOOP_SECONDS, whichever comes first). */
async function appendLoad(log: EmbeddedEventLog, load: AppendLoad): Promise<LoadRun> {
  const input = load.size === 1 ? batch[0]! : batch.slice(0, load.size);
  let issued = 0;
  let acknowledged = 0;
  const start = process.hrtime.bigint();
  const worker = async (w: number) => {
    while (issued < load.events && elapsedMs(start) < LOOP_SECONDS * 1000) {
      issued += load.size;
      await log.append(`load-${load.size}-${w % 16}`, input);
      acknowledged += load.size;
    }
  };
  await Promise.all(Array.from({ length: load.inFlight }, (_, w) => worker(w)));
  const end = process.hrtime.bigint();
  return { events: acknowledged, ms: Number(end - start) / 1e6, start, end };
}
