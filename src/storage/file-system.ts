import * as nodeFs from 'node:fs/promises';

/**
 * The file system as Ordo's storage and the node's files use it: exactly the subset of
 * `node:fs/promises` they call, so that a simulator can run the real node over a simulated disk
 * (one that loses unsynced writes, fails an fdatasync, or is slow). Every module that touches a
 * file takes one, defaulting to `nodeFileSystem`.
 *
 * Errors keep node's shape: a missing file rejects with an error whose `code` is 'ENOENT', an
 * exclusive create of an existing one ('wx') with 'EEXIST'; callers branch on those codes.
 */
export interface FileSystem {
  /** Flags as node takes them: 'r', 'r+', 'w', 'wx'. */
  open(path: string, flags: string): Promise<FileHandle>;
  /** Creates `path` and its missing parents; resolves with the first directory it created, or undefined if none. */
  mkdir(path: string, options: { recursive: true }): Promise<string | undefined>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Buffer>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rm(path: string, options: { force: true }): Promise<void>;
  stat(path: string): Promise<FileStats>;
}

/** The subset of node's `FileHandle` that Ordo calls. */
export interface FileHandle {
  /** `position` null reads at the handle's current position and advances it. */
  read(buffer: Buffer, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>;
  /** Without `position`, writes at the handle's current position and advances it. */
  write(buffer: Uint8Array, offset?: number, length?: number, position?: number): Promise<{ bytesWritten: number }>;
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
  writeFile(data: string): Promise<void>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface FileStats {
  size: number;
}

/**
 * The real disk. Node's functions are handed out as they are (no wrapper per call), and the
 * handles `open` returns are node's own, so the append path costs what it did before.
 */
export const nodeFileSystem: FileSystem = {
  open: nodeFs.open,
  mkdir: nodeFs.mkdir,
  readdir: nodeFs.readdir,
  readFile: nodeFs.readFile,
  rename: nodeFs.rename,
  unlink: nodeFs.unlink,
  rm: nodeFs.rm,
  stat: nodeFs.stat,
};
