import { basename, join } from 'node:path';
import { CorruptLogError } from '../types/errors.js';
import { syncDirectory, unlinkIfExists, writeFileAtomic } from './file-io.js';
import type { FileSystem } from './file-system.js';
import { createSegment, indexFile, type Segment } from './segment.js';
import {
  SEGMENT_HEADER_BYTES,
  checkSegmentHeader,
  parseSegmentName,
  segmentBaseIndex,
  segmentName,
} from './segment-file.js';
import { BATCH_OVERHEAD_BYTES, batchEntryIndex, batchFirstPosition } from './record.js';
import { lastTermOf, scanSegment, type SegmentScan } from './segment-scan.js';
import { upgradeSegment } from './segment-upgrade.js';
import { SparseIndex } from './sparse-index.js';
import { loadLogStart, type LogStart } from './log-start.js';

/** A torn tail recovery cut off: where, and how many bytes. */
export interface Truncation {
  file: string;
  offset: number;
  bytes: number;
}

/** Damage open cut the log at (a cluster member only): where, and what was wrong. */
export interface DamageCut {
  file: string;
  offset: number;
  reason: string;
}

/** Called before the log is cut at damage, with the damage found. */
export type BeforeCut = (damage: CorruptLogError) => Promise<void>;

/** What recovery found and did at open. */
export interface RecoveryReport {
  segments: number;
  /** Bytes cut from the end of the last segment (a torn write or a partial batch). */
  truncatedBytes: number;
  /** Each cut, with its file and offset (at most one: the active segment's torn tail). */
  truncations: Truncation[];
  /** Segments rewritten from format version 2 to the current one. */
  upgradedSegments: number;
  /** Where the log was cut at damage, losing entries it had persisted. */
  damageCuts: DamageCut[];
  lastPosition: number;
  lastIndex: number;
}

export interface RecoveredSegments {
  /** In order, never empty; the last one is the active segment. */
  segments: Segment[];
  truncatedBytes: number;
  truncations: Truncation[];
  upgradedSegments: number;
  damageCuts: DamageCut[];
  /** Term of the log's last record; 0 for an empty log. */
  lastTerm: number;
  /** What retention dropped from the front (FULL_LOG: nothing). */
  logStart: LogStart;
}

interface ScannedSegment {
  segment: Segment;
  truncatedBytes: number;
  lastTerm: number;
}

/**
 * The segments under `dir` (an existing directory) as a crash left them: leftovers of
 * interrupted atomic writes removed, sealed segments loaded, the active one's torn tail cut off,
 * and a first segment created for a new log.
 */
export async function recoverSegments(
  dir: string,
  fs: FileSystem,
  cutAtDamage?: BeforeCut,
): Promise<RecoveredSegments> {
  try {
    return await recoverAll(dir, fs);
  } catch (error) {
    if (cutAtDamage === undefined || !(error instanceof CorruptLogError)) throw error;
    const base = parseSegmentName(basename(error.file));
    if (base === undefined) throw error;
    await cutAtDamage(error);
    // A damaged header (or a segment that does not continue the one before) is damage from the
    // segment's start: nothing in it can be placed in the log.
    if (error.offset < SEGMENT_HEADER_BYTES) await dropFrom(dir, base, fs);
    else await cutAt(dir, base, error.offset, fs);
    const recovered = await recoverSegments(dir, fs, cutAtDamage);
    const cut = { file: error.file, offset: error.offset, reason: error.message };
    return { ...recovered, damageCuts: [cut, ...recovered.damageCuts] };
  }
}

/**
 * Drops segment `base` and every later one, last to first (a crash part way leaves the same
 * damage, or none, for the next open). With the first segment gone the log starts empty.
 */
async function dropFrom(dir: string, base: number, fs: FileSystem): Promise<void> {
  const dropped = (await segmentBases(dir, fs)).filter((b) => b >= base).reverse();
  for (const b of dropped) {
    const file = join(dir, segmentName(b));
    await unlinkIfExists(indexFile(file), fs);
    await unlinkIfExists(file, fs);
  }
  await syncDirectory(dir, fs);
}

/**
 * Drops everything from `offset` of segment `base` on: the later segments first (last to
 * first), then the damaged one's tail. A crash part way leaves damage (or nothing) at the same
 * place, so the next open cuts there again.
 */
async function cutAt(dir: string, base: number, offset: number, fs: FileSystem): Promise<void> {
  const later = (await segmentBases(dir, fs)).filter((b) => b > base).reverse();
  for (const b of later) {
    const file = join(dir, segmentName(b));
    await unlinkIfExists(indexFile(file), fs);
    await unlinkIfExists(file, fs);
  }
  const file = join(dir, segmentName(base));
  await unlinkIfExists(indexFile(file), fs);
  const handle = await fs.open(file, 'r+');
  try {
    await handle.truncate(offset);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await syncDirectory(dir, fs);
}

async function recoverAll(dir: string, fs: FileSystem): Promise<RecoveredSegments> {
  const logStart = await loadLogStart(dir, fs);
  const covered = await dropCovered(dir, await segmentBases(dir, fs), logStart, fs);
  const bases = await dropReplacedLog(dir, covered, logStart, fs);
  if (bases.length === 0) {
    const segments = [await createSegment(dir, logStart.position + 1, logStart.index + 1, fs)];
    const lastTerm = logStart.term;
    return { segments, truncatedBytes: 0, truncations: [], upgradedSegments: 0, damageCuts: [], lastTerm, logStart };
  }
  const segments: Segment[] = [];
  const truncations: Truncation[] = [];
  let truncatedBytes = 0;
  let lastTerm = 0;
  let upgradedSegments = 0;
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]!;
    const isLast = i === bases.length - 1;
    const file = join(dir, segmentName(base));
    const upgrade = await upgradeSegment(file, base, isLast, fs);
    if (upgrade.upgraded) upgradedSegments++;
    if (upgrade.truncatedBytes > 0) {
      truncatedBytes += upgrade.truncatedBytes;
      truncations.push({ file, offset: upgrade.validBytes, bytes: upgrade.truncatedBytes });
    }
    const scanned = isLast ? await recoverActiveSegment(dir, base, fs) : await loadSealedSegment(dir, base, fs);
    truncatedBytes += scanned.truncatedBytes;
    if (scanned.truncatedBytes > 0) {
      truncations.push({ file: scanned.segment.file, offset: scanned.segment.size, bytes: scanned.truncatedBytes });
    }
    if (isLast) lastTerm = scanned.lastTerm;
    const previous = segments[segments.length - 1];
    if (previous) linkToPrevious(previous, scanned.segment);
    else checkFirstSegment(scanned.segment, logStart);
    segments.push(scanned.segment);
  }
  if (lastTerm === 0 && segments.length > 1) {
    // The active segment is empty: the last term is that of the previous segment's last record.
    lastTerm = await lastTermOf(segments[segments.length - 2]!, fs);
  } else if (lastTerm === 0) {
    lastTerm = logStart.term; // nothing after what retention dropped
  }
  return { segments, truncatedBytes, truncations, upgradedSegments, damageCuts: [], lastTerm, logStart };
}

/**
 * Removes the segments the log start says retention dropped (a crash cut their removal short),
 * oldest first; returns the bases left. A segment ends where the next one begins, and the
 * newest one is never dropped.
 */
async function dropCovered(dir: string, bases: number[], logStart: LogStart, fs: FileSystem): Promise<number[]> {
  let kept = 0;
  while (kept + 1 < bases.length && bases[kept + 1]! - 1 <= logStart.position) kept++;
  if (kept === 0) return bases;
  for (const base of bases.slice(0, kept)) {
    const file = join(dir, segmentName(base));
    await unlinkIfExists(indexFile(file), fs);
    await unlinkIfExists(file, fs);
  }
  await syncDirectory(dir, fs);
  return bases.slice(kept);
}

/**
 * Removes what is left of a log that a reset replaced (log-reset.ts: the new log start was
 * saved, the old segments were not all removed yet): segments that start at or before the log
 * start's position, or right after it at an entry the log start covers. Retention never leaves
 * such a segment (the first one it keeps starts right after the log start, at the next entry);
 * returns the bases left.
 */
async function dropReplacedLog(dir: string, bases: number[], logStart: LogStart, fs: FileSystem): Promise<number[]> {
  const next = logStart.position + 1;
  if (logStart.index === 0 || bases.length === 0 || bases.some((base) => base > next)) return bases;
  const first = join(dir, segmentName(bases[0]!));
  if (bases[0] === next && !(await startsAtCoveredEntry(first, next, logStart.index, fs))) return bases;
  for (const base of [...bases].reverse()) {
    const file = join(dir, segmentName(base));
    await unlinkIfExists(indexFile(file), fs);
    await unlinkIfExists(file, fs);
  }
  await syncDirectory(dir, fs);
  return [];
}

/** Whether the segment's header is sound and names an entry at or below `lastCovered`. */
async function startsAtCoveredEntry(file: string, base: number, lastCovered: number, fs: FileSystem): Promise<boolean> {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  const handle = await fs.open(file, 'r');
  try {
    const { bytesRead } = await handle.read(header, 0, header.length, 0);
    if (bytesRead < header.length || checkSegmentHeader(header, base) !== undefined) return false;
  } finally {
    await handle.close();
  }
  return segmentBaseIndex(header) <= lastCovered;
}

/** Bases of the segment files under `dir`, in order, after removing what crashed atomic writes left. */
async function segmentBases(dir: string, fs: FileSystem): Promise<number[]> {
  const all = await fs.readdir(dir);
  // Leftovers of atomic writes a crash interrupted (a segment or index never renamed).
  for (const name of all.filter((n) => n.endsWith('.tmp'))) await unlinkIfExists(join(dir, name), fs);
  return all
    .filter((name) => !name.endsWith('.tmp'))
    .map(parseSegmentName)
    .filter((base): base is number => base !== undefined)
    .sort((a, b) => a - b);
}

/**
 * The log's first segment starts where the log starts: right after what retention dropped
 * (position 0, entry 1, when nothing was). Checked because an empty active segment has no batch
 * to check its header by.
 */
function checkFirstSegment(first: Segment, logStart: LogStart): void {
  const base = logStart.position + 1;
  const baseIndex = logStart.index + 1;
  if (first.base !== base || first.baseIndex !== baseIndex) {
    throw new CorruptLogError(
      first.file,
      0,
      `the first segment starts at position ${first.base}, entry ${first.baseIndex}; the log starts at position ${base}, entry ${baseIndex}`,
    );
  }
}

/** Checks that `next` continues `previous`, and ends `previous` where `next` begins. */
function linkToPrevious(previous: Segment, next: Segment): void {
  if (previous.lastPosition + 1 !== next.base) {
    throw new CorruptLogError(
      next.file,
      0,
      `segment starts at position ${next.base} but the previous one ends at ${previous.lastPosition}`,
    );
  }
  // A sealed segment's last entry is the one before the next segment's first.
  if (next.baseIndex <= previous.baseIndex) {
    throw new CorruptLogError(
      next.file,
      0,
      `segment starts at entry ${next.baseIndex}, not after the previous one's first entry ${previous.baseIndex}`,
    );
  }
  previous.lastIndex = next.baseIndex - 1;
}

/** A sealed segment: its index file if it is valid for the file's size, else a full scan. */
async function loadSealedSegment(dir: string, base: number, fs: FileSystem): Promise<ScannedSegment> {
  const file = join(dir, segmentName(base));
  const size = (await fs.stat(file)).size;
  const indexBytes = await fs.readFile(indexFile(file)).catch(() => undefined);
  const loaded = indexBytes ? SparseIndex.deserialize(indexBytes, size) : undefined;
  if (loaded) {
    const header = await readHeaderAndFirstBatch(file, fs);
    const problem = checkSegmentHeader(header, base) ?? checkFirstBatch(header, base);
    if (problem) throw new CorruptLogError(file, 0, problem);
    const baseIndex = segmentBaseIndex(header);
    // lastIndex is set by recovery from the next segment's base entry index.
    const lastIndex = baseIndex - 1;
    const segment = { base, baseIndex, lastIndex, file, size, lastPosition: loaded.lastPosition, index: loaded.index };
    return { segment, truncatedBytes: 0, lastTerm: 0 };
  }
  const scanned = await scanSegment(file, base, { tornTailAllowed: false }, fs);
  await writeFileAtomic(indexFile(file), scanned.index.serialize(scanned.validBytes, scanned.lastPosition), fs);
  return { segment: scannedSegment(file, base, scanned), truncatedBytes: 0, lastTerm: scanned.lastTerm };
}

/** The segment header and the start of the first batch (a sealed segment holds one). */
async function readHeaderAndFirstBatch(file: string, fs: FileSystem): Promise<Buffer> {
  const bytes = Buffer.alloc(SEGMENT_HEADER_BYTES + BATCH_OVERHEAD_BYTES);
  const handle = await fs.open(file, 'r');
  try {
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
    return bytes.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * The header has no checksum of its own: a sealed segment loaded from its index file is not
 * scanned, so its header's base entry index is checked against that of its first batch when
 * that batch sits at the segment's position.
 */
function checkFirstBatch(bytes: Buffer, base: number): string | undefined {
  if (bytes.length < SEGMENT_HEADER_BYTES + BATCH_OVERHEAD_BYTES) return 'sealed segment holds no whole batch';
  const entryIndex = batchEntryIndex(bytes, SEGMENT_HEADER_BYTES);
  const first = batchFirstPosition(bytes, SEGMENT_HEADER_BYTES);
  // A first batch that is not at the segment's position is that batch's damage (a flipped bit
  // its checksum shows, or a misdirected write): reads and the scrub report it, and the header,
  // which agrees with the file name, is not to blame for it.
  if (first !== base) return undefined;
  if (entryIndex !== segmentBaseIndex(bytes))
    return `header says entry ${segmentBaseIndex(bytes)} at position ${base}, its first batch is entry ${entryIndex} at position ${first}`;
  return undefined;
}

/** The last segment: scanned record by record; a torn tail or partial batch is cut off. */
async function recoverActiveSegment(dir: string, base: number, fs: FileSystem): Promise<ScannedSegment> {
  const file = join(dir, segmentName(base));
  const scanned = await scanSegment(file, base, { tornTailAllowed: true }, fs);
  // An index file here is a leftover of a roll a crash interrupted (after the index file, before
  // the next segment): the active segment is scanned instead, and its index file is written
  // when it is sealed. Removed so that it does not go stale as appends continue.
  await unlinkIfExists(indexFile(file), fs);
  let truncatedBytes = 0;
  if (scanned.validBytes < scanned.fileBytes) {
    truncatedBytes = scanned.fileBytes - scanned.validBytes;
    const handle = await fs.open(file, 'r+');
    try {
      await handle.truncate(scanned.validBytes);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
  return { segment: scannedSegment(file, base, scanned), truncatedBytes, lastTerm: scanned.lastTerm };
}

function scannedSegment(file: string, base: number, scanned: SegmentScan): Segment {
  return {
    base,
    baseIndex: scanned.baseIndex,
    lastIndex: scanned.lastIndex,
    file,
    size: scanned.validBytes,
    lastPosition: scanned.lastPosition,
    index: scanned.index,
  };
}
