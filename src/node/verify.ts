import { join, resolve } from 'node:path';
import { CorruptLogError } from '../types/errors.js';
import { firstRecordOffset, nextRecordOffset, readBatchHeader } from '../storage/record.js';
import { INDEX_SUFFIX, SEGMENT_SUFFIX, parseSegmentName, segmentName } from '../storage/segment-file.js';
import { SparseIndex } from '../storage/sparse-index.js';
import { batchFirstPosition } from '../storage/record.js';
import { scanSegment } from '../storage/segment-scan.js';
import { isHole } from '../storage/hole-records.js';
import { nodeFileSystem, type FileSystem } from '../storage/file-system.js';
import { applyEvent, newEngineState, type EngineState } from '../engine/state.js';
import { DEFAULT_ID_WINDOW } from '../engine/id-window.js';
import { loadCheckpoint } from './checkpoints.js';
import { decodeForReplay } from './event-codec.js';
import { positionAt } from '../engine/stream-state.js';
import { FULL_LOG, loadLogStart, type LogStart } from '../storage/log-start.js';

export interface VerifyReport {
  ok: boolean;
  segments: number;
  events: number;
  streams: number;
  /** Bytes at the end of the last segment that a reopen would cut (a torn write, never acknowledged). */
  tornTailBytes: number;
  /** Events whose bytes scavenging or an erasure removed (holes). */
  holes: number;
  /** Erased streams some of whose events still have their bytes (a reopen finishes the erasure). */
  pendingErasures: string[];
  problems: string[];
}

/**
 * Reads every record of every segment (CRC, lengths, position continuity, stream indexes) and
 * checks the newest index checkpoint against a full replay. Read-only: safe on a directory a
 * crashed process left behind, and it does not need the lock.
 */
export async function verifyLog(dir: string, fs: FileSystem = nodeFileSystem): Promise<VerifyReport> {
  const root = resolve(dir);
  const segmentsDir = join(root, 'segments');
  const problems: string[] = [];
  const logStart = await loadLogStart(segmentsDir, fs).catch((error: Error) => {
    problems.push(error.message);
    return FULL_LOG;
  });
  // Segments retention dropped whose removal a crash cut short: open removes them.
  const bases = (await fs.readdir(segmentsDir).catch(() => [] as string[]))
    .map(parseSegmentName)
    .filter((base): base is number => base !== undefined && base > logStart.position)
    .sort((a, b) => a - b);
  const state = await startingState(root, logStart, problems, fs);
  const gone = new GoneCheck();
  let events = 0;
  let tornTailBytes = 0;
  let expectedBase = logStart.position + 1;
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]!;
    const file = join(segmentsDir, segmentName(base));
    if (base !== expectedBase) problems.push(`${file}: starts at position ${base}, expected ${expectedBase}`);
    const batchStarts = new Map<number, number>(); // byte offset -> first position
    try {
      const scan = await scanSegment(
        file,
        base,
        {
          tornTailAllowed: i === bases.length - 1,
          onBatch: (bytes, offset) => {
            batchStarts.set(offset, batchFirstPosition(bytes, offset));
            const header = readBatchHeader(bytes, offset);
            let at = firstRecordOffset(offset);
            for (let i = 0; i < header.count; i++) {
              events++;
              try {
                // Events a checkpoint covers (where retention cut the log) are in the state already.
                const event = decodeForReplay(bytes, at, header.firstPosition + i, header);
                gone.record(event.stream, event.index, event.position, isHole(bytes, at));
                if (event.position >= state.nextPosition) applyEvent(state, event);
              } catch (error) {
                throw new CorruptLogError(file, offset, `record ${i} of the batch: ${(error as Error).message}`);
              }
              at = nextRecordOffset(bytes, at);
            }
          },
        },
        fs,
      );
      tornTailBytes += scan.fileBytes - scan.validBytes;
      expectedBase = scan.lastPosition + 1;
      // Only sealed segments are read through their index file. The last one's is a leftover of
      // a roll a crash interrupted (index file renamed, next segment not yet): open ignores it
      // and removes it, and appends after it make it stale; the next roll writes it anew.
      if (i < bases.length - 1) problems.push(...(await verifyIndexFile(file, batchStarts, fs)));
    } catch (error) {
      problems.push((error as Error).message);
      break;
    }
  }
  if (problems.length === 0) problems.push(...(await verifyCheckpoint(root, state, fs)));
  problems.push(...gone.problems(state));
  return {
    ok: problems.length === 0,
    segments: bases.length,
    events,
    streams: state.streams.size,
    tornTailBytes,
    holes: gone.holes,
    pendingErasures: gone.pendingErasures(state),
    problems,
  };
}

/**
 * Scavenging's rule, checked: every hole is an event gone for good (below its stream's floor
 * at the end of the log), so no node ever removed what readers may still see; and which erased
 * streams still have bytes before their tombstone.
 */
class GoneCheck {
  holes = 0;
  /** Per stream, the highest index that is a hole. */
  private readonly highestHole = new Map<string, number>();
  /** Per stream, the last position of an event that still has its bytes. */
  private readonly lastKept = new Map<string, number>();

  record(stream: string, index: number, position: number, hole: boolean): void {
    if (!hole) {
      this.lastKept.set(stream, position);
      return;
    }
    this.holes++;
    this.highestHole.set(stream, Math.max(this.highestHole.get(stream) ?? -1, index));
  }

  problems(state: EngineState): string[] {
    const problems: string[] = [];
    for (const [stream, index] of this.highestHole) {
      const floor = state.lifecycles.latest(stream)?.goneBefore ?? 0;
      if (index >= floor)
        problems.push(
          `the event ${JSON.stringify(stream)}@${index} was removed, but only indexes below ${floor} are gone`,
        );
    }
    return problems;
  }

  pendingErasures(state: EngineState): string[] {
    const pending: string[] = [];
    for (const [stream, lifecycle] of state.lifecycles.entriesAt(state.nextPosition - 1)) {
      const kept = this.lastKept.get(stream);
      if (lifecycle.erased && kept !== undefined && kept < lifecycle.position) pending.push(stream);
    }
    return pending;
  }
}

/**
 * The state the replay starts from: empty for a whole log; where retention removed the oldest
 * segments, the newest checkpoint, which must cover what was removed.
 */
async function startingState(
  root: string,
  logStart: LogStart,
  problems: string[],
  fs: FileSystem,
): Promise<EngineState> {
  if (logStart.position < 0) return newEngineState(DEFAULT_ID_WINDOW);
  const dir = join(root, 'checkpoints');
  const checkpoint = await loadCheckpoint(dir, Number.MAX_SAFE_INTEGER, DEFAULT_ID_WINDOW, fs);
  if (checkpoint && checkpoint.nextPosition - 1 >= logStart.position) return checkpoint;
  problems.push(
    `the log starts at position ${logStart.position + 1} (retention removed what came before), but no usable checkpoint covers position ${logStart.position}`,
  );
  return newEngineState(DEFAULT_ID_WINDOW);
}

/**
 * The newest index checkpoint must agree with the full replay: each stream's positions a prefix
 * of the replayed ones, its retry keys events of the log, and, when it is at the log's end, the
 * same claims held.
 */
async function verifyCheckpoint(root: string, state: EngineState, fs: FileSystem): Promise<string[]> {
  const problems: string[] = [];
  const checkpoint = await loadCheckpoint(join(root, 'checkpoints'), state.nextPosition - 1, DEFAULT_ID_WINDOW, fs);
  if (!checkpoint) return problems;
  const at = checkpoint.nextPosition - 1;
  for (const [stream, entry] of checkpoint.streams) {
    const replayed = state.streams.get(stream);
    // Indexes either side forgot (a tombstone, retention) are not compared.
    let prefixOk = replayed !== undefined && replayed.count >= entry.count;
    for (let index = Math.max(entry.first, replayed?.first ?? 0); prefixOk && index < entry.count; index++)
      prefixOk = positionAt(entry, index) === positionAt(replayed!, index);
    if (!prefixOk) problems.push(`checkpoint at ${at} disagrees with the log for stream ${JSON.stringify(stream)}`);
  }
  // Claims held: comparable when the checkpoint is at the log's end (both are then the same state).
  if (checkpoint.nextPosition === state.nextPosition) {
    const key = (c: { set: string; value: string; stream: string; position: number }): string =>
      JSON.stringify([c.set, c.value, c.stream, c.position]);
    const replayed = new Set(state.claims.heldAt(state.nextPosition - 1).map(key));
    const stored = checkpoint.claims.heldAt(at).map(key);
    if (stored.length !== replayed.size || stored.some((claim) => !replayed.has(claim)))
      problems.push(`checkpoint at ${at} holds ${stored.length} claims, the log ${replayed.size}, or different ones`);
  }
  problems.push(...retryKeyProblems(checkpoint, state));
  return problems;
}

/**
 * Each retry key in the checkpoint must name an event of the log: its stream's event at its
 * index is at its position, and where the replay still remembers the id (a full replay puts
 * every event's id in the id window), at that position too.
 */
function retryKeyProblems(checkpoint: EngineState, state: EngineState): string[] {
  const problems: string[] = [];
  const at = checkpoint.nextPosition - 1;
  for (const key of checkpoint.keys.entriesUpTo(at)) {
    const stream = state.streams.get(key.stream);
    const kept = stream !== undefined ? positionAt(stream, key.index) : undefined;
    const placed =
      stream !== undefined &&
      key.index < stream.count &&
      (kept === undefined ? key.index < stream.first : kept === key.position);
    const replayed = state.ids.get(key.id);
    if (!placed || (replayed !== undefined && replayed.position !== key.position))
      problems.push(
        `checkpoint at ${at} holds retry key ${key.id} for ${JSON.stringify(key.stream)}@${key.index}` +
          ` at position ${key.position}, which the log does not hold there`,
      );
  }
  return problems;
}

/**
 * A sealed segment's index file, when present and current (open rebuilds a stale or damaged
 * one), must point only at batch starts, with their first positions.
 */
async function verifyIndexFile(
  segmentFile: string,
  batchStarts: Map<number, number>,
  fs: FileSystem,
): Promise<string[]> {
  const file = segmentFile.slice(0, -SEGMENT_SUFFIX.length) + INDEX_SUFFIX;
  const bytes = await fs.readFile(file).catch(() => undefined);
  if (!bytes) return [];
  const loaded = SparseIndex.deserialize(bytes, (await fs.stat(segmentFile)).size);
  if (!loaded) return [`${file}: damaged or stale index file (a reopen rebuilds it)`];
  const problems: string[] = [];
  for (const { position, offset } of loaded.index.entries()) {
    const actual = batchStarts.get(offset);
    if (actual !== position) {
      const found = actual === undefined ? 'no batch starts' : `the batch starts at position ${actual}`;
      problems.push(`${file}: entry for position ${position} points at byte ${offset}, where ${found}`);
    }
  }
  return problems;
}
