import type { Snapshot } from '../raft/index.js';
import type { SegmentedLog } from '../storage/segmented-log.js';
import type { FileSystem } from '../storage/file-system.js';
import { invariantFailed } from '../engine/index.js';
import { StorageFailedError } from '../types/errors.js';
import type { RaftWindow } from './raft-window.js';
import { entryOfBatch } from './batch-entry.js';
import { readStaged, type StagedSnapshot } from './snapshot-transfer.js';
import type { ReplicatorHooks } from './replication-ports.js';
import type { StagedCheckpoint } from './checkpoint-fetch.js';
import { saveCheckpointFile } from './checkpoints.js';

/** While installing a snapshot, its entries are committed (and published) every this many bytes. */
const SNAPSHOT_COMMIT_BYTES = 4 * 1024 * 1024;

/** What a snapshot install changes in the replicator that runs it. */
export interface InstallTarget {
  readonly storage: SegmentedLog;
  readonly window: RaftWindow;
  readonly hooks: ReplicatorHooks;
  readonly fs: FileSystem;
  /** Where the engine checkpoints are: a checkpoint installed from a peer is saved there. */
  readonly checkpointDir: string;
  /** The last entry applied here (committed, durable and in the engine), and its last event's position. */
  applied(): { index: number; position: number };
  setApplied(index: number, position: number): void;
  dropProposalsFrom(index: number): void;
  isAwaiting(index: number): boolean;
  settleProposal(index: number, term: number): void;
}

/**
 * Makes this node's log the leader's up to the snapshot's entry S. What this node has applied
 * stays (committed entries are the same on every node); the rest of its log is cut and the
 * staged batches are written after it, committed as they land (they are committed on the
 * leader), through the same hooks as any entry, so the engine derives its state from them.
 * Returns the last position written. The writes in flight must be done before.
 *
 * With a checkpoint (the peer no longer had the entries after ours), the whole log is
 * replaced: it restarts after the checkpoint's entry, the engine takes the checkpoint's
 * state, and the staged batches follow.
 */
export async function installSnapshot(
  target: InstallTarget,
  snapshot: Snapshot,
  staged: StagedSnapshot,
): Promise<number> {
  const keep = target.applied().index;
  if (staged.checkpoint) return installCheckpoint(target, snapshot, staged, staged.checkpoint);
  if (staged.fromIndex > keep + 1)
    invariantFailed(
      `snapshot ${snapshot.index} staged from entry ${staged.fromIndex}, after entry ${keep} applied here`,
    );
  if (target.storage.lastIndex > keep) await cutAfterApplied(target, keep);
  return writeStaged(target, snapshot, staged, keep, 0);
}

/**
 * Replaces this node's log by one that starts after the checkpoint's entry E. The checkpoint
 * file is saved first, then the log start (log-reset.ts): a crash before leaves the old log
 * (open deletes a checkpoint past its end), after it a log the checkpoint covers. Then the
 * engine, the publisher and the applied marks move to E, and the batches after E are written.
 */
async function installCheckpoint(
  target: InstallTarget,
  snapshot: Snapshot,
  staged: StagedSnapshot,
  checkpoint: StagedCheckpoint,
): Promise<number> {
  const keep = target.applied().index;
  if (checkpoint.index <= keep)
    invariantFailed(`a checkpoint of entry ${checkpoint.index} staged, at or before entry ${keep} applied here`);
  // The divergent tail goes the usual way first (the engine forgets it, its proposals are answered).
  if (target.storage.lastIndex > keep) await cutAfterApplied(target, keep);
  const bytes = await target.fs.readFile(checkpoint.file);
  await saveCheckpointFile(target.checkpointDir, checkpoint.position, bytes, target.fs);
  const { position, index, term } = checkpoint;
  await target.storage.resetTo({ position, index, term });
  target.dropProposalsFrom(keep + 1);
  target.hooks.restarted(checkpoint.state, index, position);
  target.setApplied(index, position);
  return writeStaged(target, snapshot, staged, index, term);
}

/** Cuts this node's log after its applied entry `keep` (what a snapshot replaces). */
async function cutAfterApplied(target: InstallTarget, keep: number): Promise<void> {
  const lastPosition = target.applied().position;
  const kept = await target.storage.truncateAfterIndex(keep);
  if (kept !== lastPosition)
    invariantFailed(`cutting after applied entry ${keep} kept position ${kept}, not ${lastPosition}`);
  target.window.truncateFrom(Math.max(keep + 1, target.window.firstIndex()));
  target.hooks.truncated(keep + 1, lastPosition);
  target.dropProposalsFrom(keep + 1);
}

/**
 * Writes the staged batches after entry `keep`, committing (and publishing) them every
 * SNAPSHOT_COMMIT_BYTES. Proposals this node made as an old leader at the indices the
 * snapshot fills are settled by it. Returns the last position written.
 */
async function writeStaged(
  target: InstallTarget,
  snapshot: Snapshot,
  staged: StagedSnapshot,
  keep: number,
  keepTerm: number,
): Promise<number> {
  let lastPosition = target.applied().position;
  let last = { index: keep, term: keepTerm };
  let writes: Array<Promise<void>> = [];
  let pendingBytes = 0;
  const terms = new Map<number, number>();
  const commitWritten = async () => {
    await Promise.all(writes);
    writes = [];
    pendingBytes = 0;
    target.setApplied(last.index, lastPosition);
    target.hooks.committed(last.index, last.term, lastPosition);
    for (const [index, term] of terms) target.settleProposal(index, term);
    terms.clear();
  };
  const batches = staged.bytes > 0 ? readStaged(staged, undefined, target.fs) : [];
  for await (const { header, bytes } of batches) {
    if (header.entryIndex <= keep) continue; // applied here already
    if (header.entryIndex !== last.index + 1 || header.firstPosition !== lastPosition + 1) {
      throw new StorageFailedError(
        `snapshot ${snapshot.index}: staged entry ${header.entryIndex} at position` +
          ` ${header.firstPosition} does not follow entry ${last.index} at position ${lastPosition}`,
      );
    }
    const first = lastPosition + 1;
    lastPosition += header.count;
    target.hooks.appended(entryOfBatch({ ...header, kind: header.kind ?? 0, bytes }), bytes, first, lastPosition);
    const write = target.storage.append(bytes, first, lastPosition, header.term, header.entryIndex);
    // Awaited only at the next commit, after more staged batches are read: a failed fdatasync
    // meanwhile must not reject it unheard (that would take the process down).
    write.catch(() => undefined);
    writes.push(write);
    last = { index: header.entryIndex, term: header.term };
    if (target.isAwaiting(header.entryIndex)) terms.set(header.entryIndex, header.term);
    pendingBytes += bytes.length;
    if (pendingBytes >= SNAPSHOT_COMMIT_BYTES) await commitWritten();
  }
  if (last.index !== snapshot.index || last.term !== snapshot.term) {
    throw new StorageFailedError(
      `snapshot ${snapshot.index} (term ${snapshot.term}): the staged` +
        ` batches end at entry ${last.index} of term ${last.term}`,
    );
  }
  await commitWritten();
  return lastPosition;
}
