import { join } from 'node:path';
import type { CheckpointChunk, Message, NodeId, SnapshotFrame } from '../raft/index.js';
export type { SnapshotFrame } from '../raft/index.js';
import { nodeFileSystem, type FileHandle, type FileSystem } from '../storage/file-system.js';
import { checkBatch, readBatchHeader, type BatchHeader } from '../storage/record.js';
import { StorageFailedError } from '../types/errors.js';
import { CheckpointFetch, type CheckpointDecoder, type StagedCheckpoint } from './checkpoint-fetch.js';

/**
 * Snapshot install, node side. Ordo's Raft log *is* the event log and keeps its entries on
 * disk (until retention removes them), so a snapshot at entry S is the leader's log up to S: its segments are the state, and
 * the engine state at S (stream counts, event ids) is what the follower derives from them
 * while writing them (as a reopen does). What a follower lacks is what the leader's in-memory
 * window no longer holds.
 *
 * The leader's Raft sends a `snapshot` message (index, term, membership) as it would in etcd;
 * the follower then pulls the batches it lacks, from its own applied entry + 1 up to S, in
 * chunks (`snapshot-read` → `snapshot-data`, one chunk in flight: the pull is the flow
 * control), into a staging file beside its segments, and only then hands the message to its
 * Raft, so the Ready loop installs a snapshot whose data is already local. A node that dies
 * mid-transfer starts over (the staging file is only a buffer).
 *
 * A node whose retention removed the entries a follower wants answers the first read with
 * its engine checkpoint instead (snapshot-serve.ts): the follower pulls the checkpoint file
 * (`snapshot-data` frames marked as checkpoint pieces, read by offset), checks it whole, then
 * pulls the batches after the checkpoint's entry up to S as above. Installing it replaces the
 * follower's whole log (snapshot-install.ts).
 */
/** Bytes of batches per `snapshot-data` frame (at least one batch), well under the 16 MiB frame limit. */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** Staging files (`snapshot-<index>-<n>.staging`, one per transfer) live beside the segments directory. */
const STAGING_SUFFIX = '.staging';
let transfers = 0;

/**
 * The staged data of one snapshot: batches `fromIndex..snapshot.index`, ready to install;
 * with a checkpoint, the batches follow its entry and replace this node's whole log.
 */
export interface StagedSnapshot {
  offer: Message;
  fromIndex: number;
  file: string;
  /** Bytes of batches staged (none when the checkpoint's entry is S itself). */
  bytes: number;
  entries: number;
  checkpoint?: StagedCheckpoint;
}

/** A follower's pull of one snapshot's batches into the staging file. */
export class SnapshotFetch {
  /** Next entry wanted, and the position its first event takes. */
  private next: number;
  private nextPosition: number;
  private bytes = 0;
  /** Ticks since the last chunk came in (the replicator gives up after a while). */
  idleTicks = 0;

  private readonly file: string;
  private handle: Promise<FileHandle> | undefined;
  /** The checkpoint being pulled in place of entries the peer no longer has, then the one pulled. */
  private checkpoint: CheckpointFetch | undefined;
  private checkpointStaged: StagedCheckpoint | undefined;
  private readonly transfer = ++transfers;

  constructor(
    readonly offer: Message,
    private readonly self: NodeId,
    private readonly dir: string,
    readonly fromIndex: number,
    positionHint: number,
    private readonly decode: CheckpointDecoder,
    private readonly fs: FileSystem = nodeFileSystem,
  ) {
    this.next = fromIndex;
    this.nextPosition = positionHint;
    // A name of its own: a transfer given up removes its file while the next may have begun.
    this.file = join(dir, `snapshot-${offer.snapshot!.index}-${this.transfer}${STAGING_SUFFIX}`);
  }

  /** Whether a checkpoint is being pulled (not yet whole). */
  private get pullingCheckpoint(): boolean {
    return this.checkpoint !== undefined && this.checkpointStaged === undefined;
  }

  get snapshotIndex(): number {
    return this.offer.snapshot!.index;
  }

  /** The read for the next chunk. */
  request(): SnapshotFrame {
    const read = {
      type: 'snapshot-read' as const,
      from: this.self,
      to: this.offer.from,
      snapshotIndex: this.snapshotIndex,
      fromIndex: this.next,
      positionHint: this.nextPosition,
    };
    const checkpoint = this.checkpoint;
    if (!checkpoint || !this.pullingCheckpoint) return read;
    return { ...read, checkpoint: { position: checkpoint.chunk.position, offset: checkpoint.offset } };
  }

  /** Whether `frame` answers the read in flight. */
  answers(frame: SnapshotFrame & { type: 'snapshot-data' }): boolean {
    if (frame.from !== this.offer.from || frame.snapshotIndex !== this.snapshotIndex || frame.fromIndex !== this.next)
      return false;
    if (this.pullingCheckpoint) return frame.error !== '' || this.checkpoint!.continues(frame.checkpoint);
    // A checkpoint may answer the first read only: once batches are staged, they go on.
    return frame.checkpoint === undefined || (frame.checkpoint.offset === 0 && this.bytes === 0 && !this.checkpoint);
  }

  /**
   * Stages one chunk after checking every batch in it (checksum, and that it is the next
   * entry at the next position). Returns the staged snapshot once entry S is in.
   */
  async take(frame: SnapshotFrame & { type: 'snapshot-data' }): Promise<StagedSnapshot | undefined> {
    this.idleTicks = 0;
    const bytes = Buffer.isBuffer(frame.bytes)
      ? frame.bytes
      : Buffer.from(frame.bytes.buffer, frame.bytes.byteOffset, frame.bytes.byteLength);
    if (frame.error !== '')
      throw new StorageFailedError(
        `${frame.from} could not send snapshot ${this.snapshotIndex} from entry ${this.next}: ${frame.error}`,
      );
    if (frame.checkpoint) return this.takeCheckpoint(frame.checkpoint, bytes);
    for (const { header } of splitBatches(bytes, `snapshot ${this.snapshotIndex} from ${frame.from}`)) {
      if (header.entryIndex !== this.next || header.firstPosition !== this.nextPosition) {
        throw new StorageFailedError(
          `snapshot ${this.snapshotIndex} from ${frame.from}: entry ${header.entryIndex} at position` +
            ` ${header.firstPosition} where entry ${this.next} at position ${this.nextPosition} was expected`,
        );
      }
      if (header.entryIndex > this.snapshotIndex)
        throw new StorageFailedError(
          `snapshot ${this.snapshotIndex} from ${frame.from}: entry ${header.entryIndex} is past the snapshot`,
        );
      this.next++;
      this.nextPosition += header.count;
    }
    this.handle ??= this.fs.open(this.file, 'w');
    const handle = await this.handle;
    await handle.write(bytes);
    this.bytes += bytes.length;
    if (this.next <= this.snapshotIndex) return undefined;
    await handle.close();
    return this.staged();
  }

  /**
   * A piece of the checkpoint the peer sends in place of entries it no longer has. Once it is
   * whole and checked, the pull goes on with the batches after its entry.
   */
  private async takeCheckpoint(chunk: CheckpointChunk, bytes: Buffer): Promise<StagedSnapshot | undefined> {
    const what = `snapshot ${this.snapshotIndex} from ${this.offer.from}`;
    if (!this.checkpoint) {
      if (chunk.index > this.snapshotIndex || chunk.index < this.next)
        throw new StorageFailedError(
          `${what}: a checkpoint of entry ${chunk.index}, outside entries ${this.next}..${this.snapshotIndex}`,
        );
      const file = join(this.dir, `snapshot-${this.snapshotIndex}-${this.transfer}-checkpoint${STAGING_SUFFIX}`);
      const { position, index, term, size } = chunk;
      this.checkpoint = new CheckpointFetch({ position, index, term, size }, file, this.decode, this.fs);
    }
    const staged = await this.checkpoint.take(bytes, what);
    if (!staged) return undefined;
    this.checkpointStaged = staged;
    this.next = staged.index + 1;
    this.nextPosition = staged.position + 1;
    return this.next <= this.snapshotIndex ? undefined : this.staged();
  }

  private staged(): StagedSnapshot {
    const fromIndex = this.checkpointStaged ? this.checkpointStaged.index + 1 : this.fromIndex;
    const staged = { offer: this.offer, fromIndex, file: this.file, bytes: this.bytes, entries: this.next - fromIndex };
    return this.checkpointStaged ? { ...staged, checkpoint: this.checkpointStaged } : staged;
  }

  async abandon(): Promise<void> {
    if (this.handle) await (await this.handle.catch(() => undefined))?.close().catch(() => undefined);
    await this.fs.rm(this.file, { force: true });
    await this.checkpoint?.abandon();
  }
}

/** The batches of a staged snapshot, in order, read back in chunks of about `chunkBytes`. */
export async function* readStaged(
  staged: StagedSnapshot,
  chunkBytes = 4 * SNAPSHOT_CHUNK_BYTES,
  fs: FileSystem = nodeFileSystem,
): AsyncGenerator<{ header: BatchHeader; bytes: Buffer }> {
  const handle = await fs.open(staged.file, 'r');
  try {
    let carry = Buffer.alloc(0);
    for (;;) {
      const chunk = Buffer.allocUnsafe(chunkBytes);
      const { bytesRead } = await handle.read(chunk, 0, chunkBytes, null);
      if (bytesRead === 0) break;
      const bytes =
        carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let at = 0;
      for (const batch of splitBatches(bytes, staged.file, true)) {
        yield batch;
        at = batch.end;
      }
      carry = Buffer.from(bytes.subarray(at));
    }
    if (carry.length > 0)
      throw new StorageFailedError(`${staged.file}: ${carry.length} bytes after the last whole batch`);
  } finally {
    await handle.close();
  }
}

/** Whole batches of `bytes`, checked; with `partialTail`, an incomplete last one is left for the next chunk. */
function* splitBatches(
  bytes: Buffer,
  what: string,
  partialTail = false,
): Generator<{ header: BatchHeader; bytes: Buffer; end: number }> {
  let at = 0;
  while (at < bytes.length) {
    const check = checkBatch(bytes, at, bytes.length);
    if (check.kind === 'incomplete') {
      if (partialTail) return;
      throw new StorageFailedError(`${what}: a batch cut short at byte ${at} of ${bytes.length}`);
    }
    if (check.kind === 'corrupt')
      throw new StorageFailedError(`${what}: a corrupt batch at byte ${at}: ${check.reason}`);
    yield { header: readBatchHeader(bytes, at), bytes: bytes.subarray(at, check.end), end: check.end };
    at = check.end;
  }
}

/** Removes the staging files of transfers a stopped node did not finish, or of `staged` once installed. */
export async function removeStaging(
  dir: string,
  staged?: StagedSnapshot,
  fs: FileSystem = nodeFileSystem,
): Promise<void> {
  if (staged) {
    await fs.rm(staged.file, { force: true });
    if (staged.checkpoint) await fs.rm(staged.checkpoint.file, { force: true });
    return;
  }
  for (const name of await fs.readdir(dir)) {
    if (name.startsWith('snapshot-') && name.endsWith(STAGING_SUFFIX)) await fs.rm(join(dir, name), { force: true });
  }
}
