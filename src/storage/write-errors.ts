import { DiskFullError } from '../types/errors.js';

/** A round the disk had no room for: its first `written` batches are on disk, the rest were cut. */
export class PartlyWritten extends Error {
  constructor(
    readonly written: number,
    readonly diskFull: DiskFullError,
  ) {
    super(diskFull.message);
  }
}

export function diskFull(file: string, reason: string, cause?: unknown): DiskFullError {
  return new DiskFullError(
    `the disk holding ${file} is full (${reason}): the append was not written; reads go on, and` +
      ' writing resumes by itself once space is freed',
    cause,
  );
}

/** An I/O error as an operator reads it: its code and syscall first (EIO, ENOSPC…), then node's message. */
export function describeIoError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  const where = e.syscall ? ` in ${e.syscall}` : '';
  return e.code ? `${e.code}${where}: ${e.message}` : String(e?.message ?? error);
}
