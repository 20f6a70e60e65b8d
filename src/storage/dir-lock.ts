import { join } from 'node:path';
import { LogLockedError } from '../types/errors.js';
import { nodeFileSystem, type FileSystem } from './file-system.js';

/** The lock files this process holds, per file system (a simulation runs several disks in one process). */
const held = new WeakMap<FileSystem, Set<string>>();

/**
 * One process owns a data directory. The lock file holds the owner's pid; a lock left by a
 * process that no longer exists (kill -9) is taken over, which is what makes restart-after-crash
 * work without an operator.
 *
 * A lock holding this process's own pid is this process's only if this process took it (it is
 * in `held`): after a reboot or a container restart a new process often gets the pid the
 * crashed one had (a container's first process is always pid 1), and its lock is stale.
 */
export async function lockDirectory(dir: string, fs: FileSystem = nodeFileSystem): Promise<() => Promise<void>> {
  const file = join(dir, 'LOCK');
  const ours = held.get(fs) ?? new Set<string>();
  held.set(fs, ours);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await fs.open(file, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      ours.add(file);
      return async () => {
        ours.delete(file);
        await fs.unlink(file).catch(() => undefined);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = await fs.readFile(file).then(
        (bytes) => bytes.toString('utf8'),
        () => '',
      );
      const holder = Number(owner.trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw new LogLockedError(dir, `process ${holder}`);
      }
      if (holder === process.pid && ours.has(file))
        throw new LogLockedError(dir, `this process (${holder}): open it once and share the EventLog`);
      await fs.unlink(file).catch(() => undefined);
    }
  }
  throw new LogLockedError(dir, 'another process racing for the lock');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
