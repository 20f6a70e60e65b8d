import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Makes a directory entry (a new, renamed or removed file) durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a file so that a crash leaves either the old or the new content, never a mix. */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const temporary = `${file}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.write(bytes, 0, bytes.byteLength, 0);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
  await syncDirectory(dirname(file));
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

export async function unlinkIfExists(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
