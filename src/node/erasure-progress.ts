import { join } from 'node:path';
import { crc32c } from '../storage/crc.js';
import { writeFileAtomic } from '../storage/file-io.js';
import type { FileSystem } from '../storage/file-system.js';

/**
 * How far this node's erasures are done: every erasure at or below this position has removed
 * its bytes from this node's files. Without it a restart would read the whole log again for
 * every stream ever erased. Derived and only an optimization: missing or damaged, it reads as
 * -1 (every erasure is checked again, which finds nothing left and costs a pass).
 *
 * File `<dir>/erased-through`: u32 crc32c of the rest | UTF-8 JSON { version, position }.
 */
const FILE = 'erased-through';
const VERSION = 1;
export const NO_ERASURE_DONE = -1;

export async function loadErasedThrough(dir: string, fs: FileSystem): Promise<number> {
  const bytes = await fs.readFile(join(dir, FILE)).catch(() => undefined);
  if (!bytes || bytes.length < 4 || bytes.readUInt32LE(0) !== crc32c(bytes.subarray(4))) return NO_ERASURE_DONE;
  try {
    const value = JSON.parse(bytes.toString('utf8', 4)) as { version?: unknown; position?: unknown };
    const { position } = value;
    const valid = value.version === VERSION && typeof position === 'number' && Number.isSafeInteger(position);
    return valid ? Math.max(position, NO_ERASURE_DONE) : NO_ERASURE_DONE;
  } catch {
    return NO_ERASURE_DONE;
  }
}

export async function saveErasedThrough(dir: string, position: number, fs: FileSystem): Promise<void> {
  const json = Buffer.from(JSON.stringify({ version: VERSION, position }), 'utf8');
  const bytes = Buffer.alloc(4 + json.length);
  json.copy(bytes, 4);
  bytes.writeUInt32LE(crc32c(json), 0);
  await writeFileAtomic(join(dir, FILE), bytes, fs);
}
