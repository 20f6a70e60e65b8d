import { syncDirectory, unlinkIfExists } from './file-io.js';
import type { FileSystem } from './file-system.js';
import { saveLogStart, type LogStart } from './log-start.js';
import { createSegment, indexFile, type Segment } from './segment.js';

/**
 * Replaces a whole log by an empty one that starts after `start` (a node that installs a
 * peer's engine checkpoint in place of the history it lacks). The new log start is saved
 * first, then every segment is removed, newest first, then an empty segment is created at
 * `start.position + 1`, entry `start.index + 1`. A crash before the log start is saved leaves
 * the old log; after it, open removes every segment the log start covers (recoverSegments)
 * and creates the empty one itself, so no crash leaves a log the log start does not describe.
 * The caller has drained the writes and closed every handle on `segments`.
 */
export async function resetSegments(
  dir: string,
  segments: readonly Segment[],
  start: LogStart,
  fs: FileSystem,
): Promise<Segment> {
  await saveLogStart(dir, start, fs);
  for (const segment of [...segments].reverse()) {
    await unlinkIfExists(indexFile(segment.file), fs);
    await unlinkIfExists(segment.file, fs);
  }
  await syncDirectory(dir, fs);
  return createSegment(dir, start.position + 1, start.index + 1, fs);
}
