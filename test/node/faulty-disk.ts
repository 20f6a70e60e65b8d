import { nodeFileSystem, type FileHandle, type FileSystem } from '../../src/storage/file-system.js';
import type { OrdoNode } from '../../src/node/index.js';
import { DiskFullError } from '../../src/types/errors.js';
import type { EventLog } from '../../src/types/event.js';

const POLL_MS = 10;
const POLL_ATTEMPTS = 800;

/** The failures a FaultyDisk injects, as node reports them. */
export type Fault = 'EIO' | 'ENOSPC';

/**
 * The real disk, except that the segments' writes and fdatasyncs fail on command, as a
 * failing or full disk makes them fail: `failSyncs('EIO')`, `failWrites('ENOSPC')`, `heal()`.
 * Only files under a `segments` directory are affected (checkpoints and the Raft state file
 * are written as usual), so a test aims at the log's own write path.
 */
export class FaultyDisk {
  private syncFault: Fault | undefined;
  private writeFault: Fault | undefined;
  /** Bytes a failing writev still writes before it fails (a partial batch left in the file). */
  private partialBytes = 0;
  syncFailures = 0;
  writeFailures = 0;

  readonly fs: FileSystem = {
    ...nodeFileSystem,
    open: async (path: string, flags: string) => {
      const handle = await nodeFileSystem.open(path, flags);
      return /[\\/]segments[\\/]/.test(path) ? this.wrap(path, handle) : handle;
    },
  };

  failSyncs(fault: Fault): void {
    this.syncFault = fault;
  }

  failWrites(fault: Fault, partialBytes = 0): void {
    this.writeFault = fault;
    this.partialBytes = partialBytes;
  }

  heal(): void {
    this.syncFault = undefined;
    this.writeFault = undefined;
  }

  private wrap(path: string, handle: FileHandle): FileHandle {
    const disk = this;
    return {
      read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
      write: (buffer, offset, length, position) => {
        if (disk.writeFault) {
          disk.writeFailures++;
          return Promise.reject(ioError(disk.writeFault, 'write', path));
        }
        return handle.write(buffer, offset, length, position);
      },
      async writev(buffers, position) {
        if (!disk.writeFault) return handle.writev(buffers, position);
        disk.writeFailures++;
        if (disk.partialBytes > 0) {
          const partial = Buffer.concat(buffers).subarray(0, disk.partialBytes);
          await handle.write(partial, 0, partial.length, position);
        }
        throw ioError(disk.writeFault, 'write', path);
      },
      writeFile: (data) => handle.writeFile(data),
      datasync: () => {
        if (disk.syncFault) {
          disk.syncFailures++;
          return Promise.reject(ioError(disk.syncFault, 'fdatasync', path));
        }
        return handle.datasync();
      },
      sync: () => handle.sync(),
      truncate: (length) => handle.truncate(length),
      close: () => handle.close(),
    };
  }
}

function ioError(code: Fault, syscall: string, path: string): NodeJS.ErrnoException {
  const text = code === 'EIO' ? 'i/o error' : 'no space left on device';
  const error: NodeJS.ErrnoException = new Error(`${code}: ${text}, ${syscall}`);
  error.code = code;
  error.syscall = syscall;
  error.path = path;
  return error;
}

/**
 * Waits until the log refuses appends with DISK_FULL, and returns the refusal of one append
 * (made only once the log says its disk is full, so it is never written).
 */
export async function untilDiskFull(log: Pick<EventLog, 'append'> & Pick<OrdoNode, 'metrics'>): Promise<DiskFullError> {
  for (let attempt = 0; attempt < POLL_ATTEMPTS; attempt++) {
    if (log.metrics().writeState === 'disk-full') {
      const error = await log.append('probe', { type: 'P' }).then(
        () => new Error('the probe append was written'),
        (e: Error) => e,
      );
      if (error instanceof DiskFullError) return error;
      throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error('the log never refused appends with DISK_FULL');
}
