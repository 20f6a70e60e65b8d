import { join } from 'node:path';
import { CorruptLogError } from '../types/errors.js';
import { crc32c } from './crc.js';
import { writeFileAtomic } from './file-io.js';
import type { FileSystem } from './file-system.js';

/**
 * Where the log starts once retention has dropped its oldest segments: the last entry and
 * position dropped, and that entry's term (Raft matches the first entry kept against it).
 * A log that dropped nothing starts at position 0, entry 1: `FULL_LOG`.
 *
 * File `segments/log-start`: u32 crc32c of the rest | UTF-8 JSON { version, position, index,
 * term }. It is replaced atomically before any segment it covers is removed, so a crash leaves
 * segments the file says are gone (open removes them) and never a gap the file does not name.
 */
export interface LogStart {
  /** The last position dropped (-1: none). */
  readonly position: number;
  /** The last entry index dropped (0: none). */
  readonly index: number;
  /** That entry's term (0: none). */
  readonly term: number;
}

export const FULL_LOG: LogStart = { position: -1, index: 0, term: 0 };

const FILE = 'log-start';
const VERSION = 1;

export async function loadLogStart(dir: string, fs: FileSystem): Promise<LogStart> {
  const file = join(dir, FILE);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return FULL_LOG;
    throw error;
  }
  // Without it the log's first segment cannot be placed: refuse rather than guess.
  if (bytes.length < 4 || bytes.readUInt32LE(0) !== crc32c(bytes.subarray(4)))
    throw new CorruptLogError(file, 0, 'log start checksum mismatch (where retention cut the log is unknown)');
  const value = JSON.parse(bytes.toString('utf8', 4)) as Partial<LogStart> & { version?: number };
  if (value.version !== VERSION)
    throw new CorruptLogError(file, 4, `log start version ${value.version}, expected ${VERSION}`);
  const { position, index, term } = value;
  if (!isCount(position, -1) || !isCount(index, 0) || !isCount(term, 0))
    throw new CorruptLogError(file, 4, `log start ${JSON.stringify(value)} is not { position, index, term }`);
  return { position, index, term };
}

export async function saveLogStart(dir: string, start: LogStart, fs: FileSystem): Promise<void> {
  const json = Buffer.from(JSON.stringify({ version: VERSION, ...start }), 'utf8');
  const bytes = Buffer.alloc(4 + json.length);
  json.copy(bytes, 4);
  bytes.writeUInt32LE(crc32c(json), 0);
  await writeFileAtomic(join(dir, FILE), bytes, fs);
}

function isCount(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}
