import { posix } from 'node:path';
import type { RandomSource } from '../../src/raft/index.js';
import { crc32c } from '../../src/storage/crc.js';
import { batchCount, batchEntryIndex, batchFirstPosition } from '../../src/storage/record.js';
import { batchStarts } from './sim-fs.js';

const SEGMENT_SUFFIX = '.seg';
/** Beside the segments: where retention (or a checkpoint installed from a peer) made the log start. */
const LOG_START_FILE = 'log-start';
const CRC_BYTES = 4;
const RAFT_STATE_JSON_OFFSET = 4;

/** What one segment file of a node held fdatasynced when its power failed. */
export interface FsyncedSegment {
  file: string;
  bytes: number;
  /**
   * Where a loss unmarked by the node is still allowed: the start of the newest segment's last
   * batch when that batch ends in a zero byte (damage to it looks like a torn write, and is
   * cut unreported: docs/reliability.md) and lies beyond the persisted commit index (else the
   * node knows the entry was committed, and must mark itself recovering); `bytes` otherwise.
   */
  mayLoseFrom: number;
  /** Starts of the newest segment's batches (empty for other segments): see `lostUnmarked`. */
  batchStarts: number[];
  /** The segment's last position: once a saved log start covers it, the whole file may go. */
  lastPosition: number;
}

/**
 * The segments of a node's disk as a crash is about to leave them, for `lostUnmarked` at its
 * next open. A node that comes back holding less of them without marking itself recovering
 * lost entries it had acknowledged, and Raft would count its vote as if it had them.
 */
export function fsyncedSegments(files: Map<string, Buffer>, raftStateFile: string): FsyncedSegment[] {
  const segments = [...files.keys()].filter((path) => path.endsWith(SEGMENT_SUFFIX)).sort();
  const commit = persistedCommit(files.get(raftStateFile));
  return segments.map((file, i) => {
    const bytes = files.get(file)!;
    let mayLoseFrom = bytes.length;
    const starts = batchStarts(bytes);
    const last = starts[starts.length - 1];
    const newest = i === segments.length - 1 || posix.dirname(segments[i + 1]!) !== posix.dirname(file);
    if (newest && last !== undefined && bytes[bytes.length - 1] === 0 && batchEntryIndex(bytes, last) > commit)
      mayLoseFrom = last;
    const lastPosition = newest ? lastBatchPosition(file, bytes, last) : baseOf(segments[i + 1]!) - 1;
    return { file, bytes: bytes.length, mayLoseFrom, batchStarts: newest ? starts : [], lastPosition };
  });
}

/** A segment's first position, from its name (the position zero-padded). */
function baseOf(file: string): number {
  return Number(posix.basename(file, SEGMENT_SUFFIX));
}

function lastBatchPosition(file: string, bytes: Buffer, last: number | undefined): number {
  if (last === undefined) return baseOf(file) - 1;
  return batchFirstPosition(bytes, last) + batchCount(bytes, last) - 1;
}

/**
 * The last position dropped by the log start saved beside `segmentsDir`'s segments in `files`
 * (-1 when there is none, or it does not check out: then nothing it would cover is excused).
 */
export function savedLogStart(files: Map<string, Buffer>, segmentsDir: string): number {
  const bytes = files.get(posix.join(segmentsDir, LOG_START_FILE));
  if (bytes === undefined || bytes.length < CRC_BYTES) return -1;
  if (bytes.readUInt32LE(0) !== crc32c(bytes.subarray(CRC_BYTES))) return -1;
  try {
    const { position } = JSON.parse(bytes.toString('utf8', CRC_BYTES)) as { position?: unknown };
    return typeof position === 'number' ? position : -1;
  } catch {
    return -1;
  }
}

/**
 * What of `before` a reopened node no longer holds, though it is not marked recovering;
 * undefined if nothing. `flips` are the bits flipped since (`file@offset/size`). Two or more in
 * the newest segment can leave its last batches looking cut short by a crash (a length that
 * runs past the end, and nothing valid after it), which no reader can tell from a torn write
 * (docs/reliability.md): the loss from the batch of the earliest of them is allowed then.
 * A segment file that is gone is allowed only when the log start saved beside it now
 * (`droppedThrough` of its directory: the last position dropped) covers all of it: retention
 * removed it, or a checkpoint installed from a peer replaced the log.
 */
export function lostUnmarked(
  before: FsyncedSegment[],
  sizeOf: (path: string) => number | undefined,
  flips: readonly string[] = [],
  droppedThrough: (segmentsDir: string) => number = () => -1,
): string | undefined {
  for (const segment of before) {
    const held = sizeOf(segment.file);
    if (held === undefined && segment.lastPosition <= droppedThrough(posix.dirname(segment.file))) continue;
    const size = held ?? 0;
    if (size < allowedSize(segment, flips))
      return `${segment.file} holds ${size} bytes of the ${segment.bytes} it had fdatasynced`;
  }
  return undefined;
}

function allowedSize(segment: FsyncedSegment, flips: readonly string[]): number {
  const offsets = flips
    .filter((flip) => flip.slice(0, flip.lastIndexOf('@')) === segment.file)
    .map((flip) => Number(flip.slice(flip.lastIndexOf('@') + 1).split('/')[0]));
  if (offsets.length < 2 || segment.batchStarts.length === 0) return segment.mayLoseFrom;
  const earliest = Math.min(...offsets);
  const batch = segment.batchStarts.filter((start) => start <= earliest).pop() ?? 0;
  return Math.min(batch, segment.mayLoseFrom);
}

/**
 * Where a `lostTail` fault cuts: the start of a batch of the newest segment that the persisted
 * commit index covers (so the node can tell it lost committed entries), picked at random;
 * undefined when there is none.
 */
export function tailCut(
  files: Map<string, Buffer>,
  raftStateFile: string,
  random: RandomSource,
): { file: string; length: number } | undefined {
  const file = [...files.keys()]
    .filter((path) => path.endsWith(SEGMENT_SUFFIX))
    .sort()
    .pop();
  if (file === undefined) return undefined;
  const bytes = files.get(file)!;
  const commit = persistedCommit(files.get(raftStateFile));
  const covered = batchStarts(bytes).filter((start) => batchEntryIndex(bytes, start) <= commit);
  if (covered.length === 0) return undefined;
  return { file, length: covered[random.int(covered.length)]! };
}

function persistedCommit(raftState: Buffer | undefined): number {
  if (raftState === undefined) return 0;
  try {
    const value = JSON.parse(raftState.toString('utf8', RAFT_STATE_JSON_OFFSET)) as { commit?: unknown };
    return typeof value.commit === 'number' ? value.commit : 0;
  } catch {
    return 0; // a damaged raft-state fails the open: its node is retired, never checked
  }
}
