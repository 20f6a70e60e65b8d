import type { CheckpointChunk, SnapshotFrame } from '../raft/index.js';
import type { FileSystem } from '../storage/file-system.js';
import type { SegmentedLog } from '../storage/segmented-log.js';
import { checkpointPositions, isSoundCheckpointFile, readCheckpointFile } from './checkpoints.js';

/** A checkpoint file at hand to send, with the entry it ends at. */
interface ServedCheckpoint {
  position: number;
  index: number;
  term: number;
  bytes: Buffer;
}

/** One piece of a checkpoint file, as a `snapshot-data` frame carries it. */
export interface CheckpointPiece {
  chunk: CheckpointChunk;
  bytes: Buffer;
}

/** Why no checkpoint could answer a read (the leader then offers a newer snapshot). */
export class NoCheckpointError extends Error {}

/**
 * The serving side of a snapshot for a follower that wants entries retention removed here:
 * the newest engine checkpoint that is at or after the log start (the batches after it are
 * all here) and whose entry is at or before the snapshot's S (the follower installs S), sent
 * in pieces of `pieceBytes`. The file being sent is kept in memory, so a newer checkpoint
 * replacing it on disk does not cut a transfer short.
 */
export class CheckpointSource {
  private held: ServedCheckpoint | undefined;

  constructor(
    private readonly dir: string,
    private readonly storage: SegmentedLog,
    private readonly fs: FileSystem,
    private readonly pieceBytes: number,
  ) {}

  /** The piece that answers `read`: the start of a checkpoint, or the next piece of one being pulled. */
  async piece(read: SnapshotFrame & { type: 'snapshot-read' }): Promise<CheckpointPiece> {
    const at = read.checkpoint;
    const served = at ? await this.byPosition(at.position) : await this.newestFor(read.snapshotIndex);
    const offset = at?.offset ?? 0;
    if (offset >= served.bytes.length)
      throw new Error(
        `offset ${offset} is past the end of checkpoint ${served.position} (${served.bytes.length} bytes)`,
      );
    const { position, index, term } = served;
    const chunk = { position, index, term, size: served.bytes.length, offset };
    return { chunk, bytes: served.bytes.subarray(offset, offset + this.pieceBytes) };
  }

  private async newestFor(snapshotIndex: number): Promise<ServedCheckpoint> {
    const start = this.storage.logStart.position;
    for (const position of await checkpointPositions(this.dir, this.fs)) {
      if (position < start) break;
      const served = await this.load(position);
      if (served && served.index <= snapshotIndex) return served;
    }
    throw new NoCheckpointError(
      `no checkpoint from the log start (position ${start}) up to entry ${snapshotIndex} is here`,
    );
  }

  private async byPosition(position: number): Promise<ServedCheckpoint> {
    const served = this.held?.position === position ? this.held : await this.load(position);
    if (!served) throw new Error(`checkpoint ${position} is no longer here`);
    return served;
  }

  /** Checkpoint `position` and the entry it ends at, if its file is here and sound. */
  private async load(position: number): Promise<ServedCheckpoint | undefined> {
    const entry = await this.entryEndingAt(position);
    const bytes = entry && (await readCheckpointFile(this.dir, position, this.fs).catch(() => undefined));
    if (!entry || !bytes || !isSoundCheckpointFile(bytes)) return undefined;
    this.held = { position, ...entry, bytes };
    return this.held;
  }

  /**
   * The entry whose last event is at `position` (a checkpoint is written at a commit, the end
   * of an entry). At the log start itself, the entry the log start names: the entries after
   * the last one with events up to it have none, so the state is the same.
   */
  private async entryEndingAt(position: number): Promise<{ index: number; term: number } | undefined> {
    const start = this.storage.logStart;
    if (position === start.position) return { index: start.index, term: start.term };
    const [entry] = await this.storage.read(position, position, 1, (_bytes, _offset, _position, batch) => ({
      index: batch.entryIndex,
      term: batch.term,
      last: batch.firstPosition + batch.count - 1,
    }));
    return entry?.last === position ? { index: entry.index, term: entry.term } : undefined;
  }
}
