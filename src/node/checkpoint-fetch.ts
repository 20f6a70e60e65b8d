import type { CheckpointChunk } from '../raft/index.js';
import type { EngineState } from '../engine/state.js';
import type { FileHandle, FileSystem } from '../storage/file-system.js';
import { StorageFailedError } from '../types/errors.js';

/** Checks a whole checkpoint file of `position`: its engine state, or undefined if unsound. */
export type CheckpointDecoder = (bytes: Buffer, position: number) => EngineState | undefined;

/** A checkpoint pulled whole and checked: where the log starts after it, its file, its state. */
export interface StagedCheckpoint {
  /** The position it describes the log up to, the entry that ends there, and that entry's term. */
  position: number;
  index: number;
  term: number;
  /** The staging file holding the checkpoint file's bytes, as the sender has it. */
  file: string;
  state: EngineState;
}

/**
 * A follower's pull of the engine checkpoint a peer sends in place of entries it no longer
 * has (retention removed them): the file's bytes, in order, into a staging file. Once the
 * last byte is in, the whole file is read back and decoded, so a damaged transfer is found
 * before anything of this node's log is replaced.
 */
export class CheckpointFetch {
  private received = 0;
  private handle: Promise<FileHandle> | undefined;

  constructor(
    readonly chunk: Omit<CheckpointChunk, 'offset'>,
    private readonly file: string,
    private readonly decode: CheckpointDecoder,
    private readonly fs: FileSystem,
  ) {}

  /** The offset of the next byte wanted. */
  get offset(): number {
    return this.received;
  }

  /** Whether `chunk` is the next piece of this checkpoint. */
  continues(chunk: CheckpointChunk | undefined): boolean {
    return (
      chunk !== undefined &&
      chunk.position === this.chunk.position &&
      chunk.index === this.chunk.index &&
      chunk.size === this.chunk.size &&
      chunk.offset === this.received
    );
  }

  /** Stages one piece; returns the checked checkpoint once the last byte is in. */
  async take(bytes: Buffer, what: string): Promise<StagedCheckpoint | undefined> {
    if (bytes.length === 0 || this.received + bytes.length > this.chunk.size)
      throw new StorageFailedError(
        `${what}: ${bytes.length} bytes at offset ${this.received} of a ${this.chunk.size}-byte checkpoint`,
      );
    this.handle ??= this.fs.open(this.file, 'w');
    const handle = await this.handle;
    await handle.write(bytes);
    this.received += bytes.length;
    if (this.received < this.chunk.size) return undefined;
    await handle.close();
    this.handle = undefined;
    const state = this.decode(await this.fs.readFile(this.file), this.chunk.position);
    if (!state)
      throw new StorageFailedError(`${what}: checkpoint ${this.chunk.position} arrived damaged or unreadable`);
    const { position, index, term } = this.chunk;
    return { position, index, term, file: this.file, state };
  }

  async abandon(): Promise<void> {
    if (this.handle) await (await this.handle.catch(() => undefined))?.close().catch(() => undefined);
    await this.fs.rm(this.file, { force: true });
  }
}
