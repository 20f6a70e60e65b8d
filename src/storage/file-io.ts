import { dirname } from 'node:path';
import { nodeFileSystem, type FileHandle, type FileSystem } from './file-system.js';

/**
 * Creates `dir` (and its missing parents) so that a crash cannot lose it: each new directory's
 * entry is made durable in its parent, the first one created included. A directory that
 * already exists costs one mkdir and nothing else.
 */
export async function makeDirectoryDurable(dir: string, fs: FileSystem = nodeFileSystem): Promise<void> {
  const first = await fs.mkdir(dir, { recursive: true });
  if (first === undefined) return;
  const created: string[] = [];
  for (let at = dir; ; at = dirname(at)) {
    created.push(at);
    if (at === first || dirname(at) === at) break;
  }
  // From the top: a parent's entry for a child, then the child's own entries.
  for (const path of created.reverse()) await syncDirectory(dirname(path), fs);
}

/** Makes a directory entry (a new, renamed or removed file) durable. */
export async function syncDirectory(dir: string, fs: FileSystem = nodeFileSystem): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a file so that a crash leaves either the old or the new content, never a mix. */
export async function writeFileAtomic(file: string, bytes: Uint8Array, fs: FileSystem = nodeFileSystem): Promise<void> {
  const temporary = `${file}.tmp`;
  const handle = await fs.open(temporary, 'w');
  try {
    await handle.write(bytes, 0, bytes.byteLength, 0);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fs.rename(temporary, file);
  await syncDirectory(dirname(file), fs);
}

/** Reads `length` bytes at `position`, fewer only at the end of the file. */
export async function readAt(handle: FileHandle, target: Buffer, length: number, position: number): Promise<number> {
  let total = 0;
  while (total < length) {
    const { bytesRead } = await handle.read(target, total, length - total, position + total);
    if (bytesRead === 0) break;
    total += bytesRead;
  }
  return total;
}

export async function unlinkIfExists(file: string, fs: FileSystem = nodeFileSystem): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
