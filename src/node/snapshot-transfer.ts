import { join } from 'node:path';
import type { Message, NodeId, SnapshotFrame } from '../raft/index.js';
export type { SnapshotFrame } from '../raft/index.js';
import { nodeFileSystem, type FileHandle, type FileSystem } from '../storage/file-system.js';
import { checkBatch, readBatchHeader, type BatchHeader } from '../storage/record.js';
import { StorageFailedError } from '../types/errors.js';

/**
 * Snapshot install, node side. Ordo's Raft log *is* the event log and keeps every entry on
 * disk, so a snapshot at entry S is the leader's log up to S: its segments are the state, and
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
 */
/** Bytes of batches per `snapshot-data` frame (at least one batch), well under the 16 MiB frame limit. */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** Staging files (`snapshot-<index>-<n>.staging`, one per transfer) live beside the segments directory. */
const STAGING_SUFFIX = '.staging';
let transfers = 0;

/** The staged data of one snapshot: batches `fromIndex..snapshot.index`, ready to install. */
export interface StagedSnapshot {
  offer: Message;
  fromIndex: number;
  file: string;
  bytes: number;
  entries: number;
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

  constructor(
    readonly offer: Message,
    private readonly self: NodeId,
    dir: string,
    readonly fromIndex: number,
    positionHint: number,
    private readonly fs: FileSystem = nodeFileSystem,
  ) {
    this.next = fromIndex;
    this.nextPosition = positionHint;
    // A name of its own: a transfer given up removes its file while the next may have begun.
    this.file = join(dir, `snapshot-${offer.snapshot!.index}-${++transfers}${STAGING_SUFFIX}`);
  }

  get snapshotIndex(): number {
    return this.offer.snapshot!.index;
  }

  /** The read for the next chunk. */
  request(): SnapshotFrame {
    return {
      type: 'snapshot-read',
      from: this.self,
      to: this.offer.from,
      snapshotIndex: this.snapshotIndex,
      fromIndex: this.next,
      positionHint: this.nextPosition,
    };
  }

  /** Whether `frame` answers the read in flight. */
  answers(frame: SnapshotFrame & { type: 'snapshot-data' }): boolean {
    return (
      frame.from === this.offer.from && frame.snapshotIndex === this.snapshotIndex && frame.fromIndex === this.next
    );
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
    return {
      offer: this.offer,
      fromIndex: this.fromIndex,
      file: this.file,
      bytes: this.bytes,
      entries: this.next - this.fromIndex,
    };
  }

  async abandon(): Promise<void> {
    if (this.handle) await (await this.handle.catch(() => undefined))?.close().catch(() => undefined);
    await this.fs.rm(this.file, { force: true });
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
    return;
  }
  for (const name of await fs.readdir(dir)) {
    if (name.startsWith('snapshot-') && name.endsWith(STAGING_SUFFIX)) await fs.rm(join(dir, name), { force: true });
  }
}
