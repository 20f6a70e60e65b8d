import { join } from 'node:path';
import { crc32c } from '../storage/crc.js';
import { makeDirectoryDurable, unlinkIfExists, writeFileAtomic } from '../storage/file-io.js';
import { nodeFileSystem, type FileSystem } from '../storage/file-system.js';
import { decodeCheckpoint, encodeCheckpoint } from '../engine/checkpoint.js';
import type { IdWindowLimits } from '../engine/id-window.js';
import type { EngineState } from '../engine/state.js';

/**
 * Engine checkpoints on disk: `checkpoints/<position>.ckpt` = "ORDK" | u32 crc32c(payload) |
 * payload (engine/checkpoint.ts). The newest two are kept; a damaged or too-new one (the log
 * lost its tail after the checkpoint was written) is skipped for an older one or a full replay.
 */
const KEEP = 2;
const SUFFIX = '.ckpt';

export async function writeCheckpoint(
  dir: string,
  state: EngineState,
  upTo: number,
  fs: FileSystem = nodeFileSystem,
): Promise<void> {
  // Encoded before anything is awaited: the engine settles later commits meanwhile, and what
  // it settles (lifecycle versions, claim journal entries) is no longer there to undo.
  const payload = encodeCheckpoint(state, upTo);
  await makeDirectoryDurable(dir, fs);
  const header = Buffer.alloc(8);
  header.write('ORDK', 0, 'latin1');
  header.writeUInt32LE(crc32c(payload), 4);
  await writeFileAtomic(join(dir, name(upTo)), Buffer.concat([header, payload]), fs);
  await pruneCheckpoints(dir, fs);
}

async function pruneCheckpoints(dir: string, fs: FileSystem): Promise<void> {
  const existing = await list(dir, fs);
  for (const old of existing.slice(0, Math.max(0, existing.length - KEEP)))
    await unlinkIfExists(join(dir, name(old)), fs);
}

/**
 * The newest usable checkpoint at or below `maxPosition`, the log's last position. Checkpoints
 * beyond it describe events the log lost (an unsynced tail under fsync 'never' or 'interval'):
 * they are deleted, or once the log grows past them again they would be loaded as if they
 * described the new events.
 */
export async function loadCheckpoint(
  dir: string,
  maxPosition: number,
  limits: IdWindowLimits,
  fs: FileSystem = nodeFileSystem,
): Promise<EngineState | undefined> {
  const positions = (await list(dir, fs).catch(() => [])).reverse();
  for (const position of positions) {
    if (position > maxPosition) {
      await unlinkIfExists(join(dir, name(position)), fs);
      continue;
    }
    const bytes = await fs.readFile(join(dir, name(position))).catch(() => undefined);
    const state = bytes && decodeCheckpointFile(bytes, position, limits);
    if (state) return state;
  }
  return undefined;
}

/**
 * The engine state a checkpoint file holds, if the file is sound (magic, checksum, payload)
 * and describes the log up to `position`; undefined otherwise.
 */
export function decodeCheckpointFile(bytes: Buffer, position: number, limits: IdWindowLimits): EngineState | undefined {
  if (!isSoundCheckpointFile(bytes)) return undefined;
  try {
    const state = decodeCheckpoint(bytes.subarray(8), limits);
    return state.nextPosition - 1 === position ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a checkpoint file's magic and checksum are right (its payload is not decoded). */
export function isSoundCheckpointFile(bytes: Buffer): boolean {
  if (bytes.length < 8 || bytes.toString('latin1', 0, 4) !== 'ORDK') return false;
  return crc32c(bytes.subarray(8)) === bytes.readUInt32LE(4);
}

/**
 * Saves a checkpoint file received whole from a peer (checked by the caller) as this node's
 * checkpoint of `position`, and removes the older ones beyond the two kept.
 */
export async function saveCheckpointFile(
  dir: string,
  position: number,
  bytes: Buffer,
  fs: FileSystem = nodeFileSystem,
): Promise<void> {
  await makeDirectoryDurable(dir, fs);
  await writeFileAtomic(join(dir, name(position)), bytes, fs);
  await pruneCheckpoints(dir, fs);
}

/** The bytes of the checkpoint file of `position` (ENOENT once a newer one replaced it). */
export function readCheckpointFile(dir: string, position: number, fs: FileSystem = nodeFileSystem): Promise<Buffer> {
  return fs.readFile(join(dir, name(position)));
}

/** Positions of the checkpoints kept under `dir`, newest first. */
export async function checkpointPositions(dir: string, fs: FileSystem = nodeFileSystem): Promise<number[]> {
  return (await list(dir, fs).catch(() => [])).reverse();
}

/**
 * The oldest of the checkpoints kept, once as many as are kept exist: a reopen finds a
 * checkpoint at or after it even if the newest one is damaged. Undefined before that.
 */
export async function checkpointFloor(dir: string, fs: FileSystem = nodeFileSystem): Promise<number | undefined> {
  const positions = await list(dir, fs).catch(() => []);
  return positions.length >= KEEP ? positions[positions.length - KEEP] : undefined;
}

/** Position the newest checkpoint under `dir` describes the log up to, or undefined if none. */
export async function newestCheckpoint(dir: string, fs: FileSystem = nodeFileSystem): Promise<number | undefined> {
  const positions = await list(dir, fs).catch(() => []);
  return positions[positions.length - 1];
}

async function list(dir: string, fs: FileSystem): Promise<number[]> {
  const names = await fs.readdir(dir);
  return names
    .filter((file) => file.endsWith(SUFFIX) && /^-?\d+$/.test(file.slice(0, -SUFFIX.length)))
    .map((file) => Number(file.slice(0, -SUFFIX.length)))
    .sort((a, b) => a - b);
}

function name(position: number): string {
  return `${position}${SUFFIX}`;
}
