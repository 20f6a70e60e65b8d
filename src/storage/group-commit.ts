import { type DiskFullError, StorageFailedError } from '../types/errors.js';
import type { FileHandle } from './file-system.js';
import { RoundWriter, type RoundBatch, type RoundWriterOptions } from './round-writer.js';
import type { Segment } from './segment.js';
import type { Clock, IntervalTimers } from './time.js';
import { PartlyWritten, describeIoError } from './write-errors.js';

const MS_PER_SECOND = 1000;
/** While the disk is full, the batches waiting for space are written again this often. */
const DISK_FULL_RETRY_MS = 1000;

/** What the write pipeline needs of the log it writes. */
export interface GroupCommitOptions extends RoundWriterOptions {
  monotonicNow: Clock;
  timers: IntervalTimers;
  /** Told of what the pipeline does; read at each call, so its callbacks can be set later. */
  listener: GroupCommitListener;
}

/** The callbacks and totals of `SegmentedLog` (see there), which the pipeline drives. */
export interface GroupCommitListener {
  readonly onDurable: ((position: number, entryIndex: number) => void) | undefined;
  readonly onSync: ((seconds: number) => void) | undefined;
  readonly onFailure: ((error: StorageFailedError) => void) | undefined;
  readonly onDiskFull: ((error: DiskFullError | undefined) => void) | undefined;
  readonly stats: { bytesWritten: number; syncs: number };
}

/** What `SegmentedLog` asks of its write pipeline. */
export interface WritePipeline {
  /** The active segment's handle: `roll` swaps it, and so does a truncation (after `drain`). */
  writer: FileHandle;
  /** Position of the last record written (not only queued). */
  readonly lastWritten: number;
  readonly durablePosition: number;
  readonly durableEntryIndex: number;
  readonly failed: StorageFailedError | undefined;
  readonly diskFull: DiskFullError | undefined;
  /** Set by `stop`: no more appends. */
  readonly closed: boolean;
  /** The cut of what a failed fdatasync may not have written, while it runs. */
  readonly cutting: Promise<void> | undefined;
  append(bytes: Buffer, first: number, last: number, term: number, entryIndex: number): Promise<void>;
  drain(): Promise<void>;
  sealActive(): Promise<boolean>;
  abandonWaitingForSpace(): void;
  /** A truncation (after `drain`) cut the active segment back to these. */
  truncated(lastPosition: number, lastIndex: number, bytesSinceIndexEntry: number): void;
  /** A reset (after `drain`) replaced the log by an empty one ending at these (durable already). */
  restarted(lastPosition: number, lastIndex: number): void;
  /** Takes no more appends and stops the `interval` policy's timer (after `drain`). */
  stop(): void;
}

interface PendingBatch extends RoundBatch {
  term: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The log's group commit. Every append is one atomic batch (an append or, later, a Raft
 * entry). While one write+fdatasync runs, new batches queue; the next round writes them all
 * with one writev and one fdatasync.
 */
export class GroupCommit implements WritePipeline {
  lastWritten: number;
  private durable: number;
  private durableIndex: number;
  /** Appended, waiting to be written. */
  private queue: PendingBatch[] = [];
  private writing: Promise<void> | undefined;
  /** Written, waiting for the fdatasync that makes them durable (policy `always`). */
  private unsynced: PendingBatch[] = [];
  private syncing: Promise<void> | undefined;
  private failure: StorageFailedError | undefined;
  /** Cutting what a failed fdatasync may not have written (see `cutUnsyncedTail`). */
  cutting: Promise<void> | undefined;
  /**
   * Set while a write found the disk full: the batches it did not write are back at the head of
   * `queue` and the write stage is idle until the retry timer tries them again. Invariant: the
   * active segment holds no byte of them (the partial write was cut and the cut synced).
   */
  private diskFullError: DiskFullError | undefined;
  private waitingForSpace = false;
  /** Set while `sealActive` waits for the stages to stop and seals: no write stage starts. */
  private sealing: Promise<void> | undefined;
  private diskFullTimer: unknown;
  closed = false;
  private intervalTimer: unknown;
  private readonly rounds: RoundWriter;
  private readonly segments: Segment[];
  private readonly listener: GroupCommitListener;

  constructor(private readonly options: GroupCommitOptions) {
    this.segments = options.segments;
    this.listener = options.listener;
    const last = this.active();
    this.lastWritten = last.lastPosition;
    this.durable = last.lastPosition;
    this.durableIndex = last.lastIndex;
    this.rounds = new RoundWriter(options);
    if (options.fsync.kind === 'interval') {
      this.intervalTimer = options.timers.setInterval(() => void this.syncNow(), options.fsync.ms);
    }
  }

  get writer(): FileHandle {
    return this.rounds.writer;
  }

  set writer(handle: FileHandle) {
    this.rounds.writer = handle;
  }

  get durablePosition(): number {
    return this.durable;
  }

  get durableEntryIndex(): number {
    return this.durableIndex;
  }

  get failed(): StorageFailedError | undefined {
    return this.failure;
  }

  get diskFull(): DiskFullError | undefined {
    return this.diskFullError;
  }

  /** Queues a batch the log has checked (see `SegmentedLog.append`). */
  append(bytes: Buffer, first: number, last: number, term: number, entryIndex: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ bytes, first, last, term, entryIndex, resolve, reject });
      // While waiting for space the retry timer starts the write stage; a seal starts it after.
      if (!this.writing && !this.waitingForSpace && !this.sealing) this.startWriteStage();
    });
  }

  /** Resolves when everything queued so far has been handled. */
  async drain(): Promise<void> {
    while (this.writing || this.syncing || this.sealing) {
      await this.writing;
      await this.syncing;
      await this.sealing;
    }
  }

  /**
   * Seals the active segment now, if it holds events (an erasure must rewrite what it holds,
   * and only sealed segments are rewritten). Appends queue meanwhile and are written after,
   * to the next segment. Returns whether a segment was sealed.
   */
  async sealActive(): Promise<boolean> {
    while (this.sealing) await this.sealing;
    let sealed = false;
    const run = async (): Promise<void> => {
      while (this.writing || this.syncing) {
        await this.writing;
        await this.syncing;
      }
      if (!this.failure && !this.closed) sealed = await this.rounds.sealActive();
    };
    const stage: Promise<void> = run().finally(() => {
      this.sealing = undefined;
      if (this.queue.length > 0 && !this.failure && !this.waitingForSpace && !this.writing) this.startWriteStage();
    });
    this.sealing = stage;
    await stage;
    return sealed;
  }

  restarted(lastPosition: number, lastIndex: number): void {
    this.rounds.truncated(0);
    this.lastWritten = lastPosition;
    this.durable = lastPosition;
    this.durableIndex = lastIndex;
  }

  truncated(lastPosition: number, lastIndex: number, bytesSinceIndexEntry: number): void {
    this.rounds.truncated(bytesSinceIndexEntry);
    this.lastWritten = lastPosition;
    this.durable = Math.min(this.durable, lastPosition);
    this.durableIndex = Math.min(this.durableIndex, lastIndex);
  }

  stop(): void {
    this.closed = true;
    if (this.intervalTimer !== undefined) this.options.timers.clearInterval(this.intervalTimer);
  }

  /**
   * Group commit as a two-stage pipeline. The write stage writes everything queued (one writev
   * per round) and hands it to the sync stage, then goes on writing what queued meanwhile; the
   * sync stage runs one fdatasync for everything written since its last one. So the next
   * round's write overlaps the previous round's fdatasync. Writes stay in order, fdatasyncs
   * stay in order, and a batch is acknowledged only after an fdatasync that began after its
   * write completed.
   */
  private async writeLoop(): Promise<void> {
    while (this.queue.length > 0 && !this.failure && !this.waitingForSpace && !this.sealing) {
      let round = this.queue;
      this.queue = [];
      try {
        await this.rounds.writeRound(round);
        if (this.diskFullError) this.spaceReturned();
      } catch (error) {
        if (!(error instanceof PartlyWritten)) {
          this.fail(error, round);
          return;
        }
        this.queue = [...round.slice(error.written), ...this.queue];
        round = round.slice(0, error.written);
        this.waitForSpace(error.diskFull);
        if (round.length === 0) return;
      }
      if (this.failure) {
        // The sync stage failed while this round was written: it is not durable either.
        for (const batch of round) batch.reject(this.failure);
        return;
      }
      this.lastWritten = round[round.length - 1]!.last;
      if (this.options.fsync.kind === 'always') {
        for (const batch of round) this.unsynced.push(batch);
        if (!this.syncing) this.startSyncStage();
      } else {
        this.acknowledge(round);
      }
    }
  }

  /**
   * Starts the write stage; `writing` is cleared when it ends. (Cleared by the stage itself, a
   * stage with nothing to do would end before `writing` was set, leaving it set for good, and
   * `drain` would spin on it.) A batch queued after the stage's last look at the queue, but
   * before this clears `writing`, saw a stage running: the stage starts again for it.
   */
  private startWriteStage(): void {
    const stage: Promise<void> = this.writeLoop().finally(() => {
      if (this.writing !== stage) return;
      this.writing = undefined;
      if (this.queue.length > 0 && !this.failure && !this.waitingForSpace && !this.sealing) this.startWriteStage();
    });
    this.writing = stage;
  }

  /** Starts the sync stage; `syncing` is cleared when it ends (as for `startWriteStage`). */
  private startSyncStage(): void {
    const stage: Promise<void> = this.syncLoop().finally(() => {
      if (this.syncing !== stage) return;
      this.syncing = undefined;
      if (this.unsynced.length > 0 && !this.failure) this.startSyncStage();
    });
    this.syncing = stage;
  }

  private async syncLoop(): Promise<void> {
    while (this.unsynced.length > 0 && !this.failure) {
      const written = this.unsynced;
      this.unsynced = [];
      const started = this.options.monotonicNow();
      // Everything written so far, and nothing after: the write stage counts a write once it completed.
      const covered = { file: this.active().file, bytes: this.active().size };
      try {
        await this.rounds.writer.datasync();
      } catch (error) {
        this.fail(error, written);
        return;
      }
      if (covered.file === this.active().file) this.rounds.syncedTail = covered;
      this.listener.stats.syncs++;
      this.listener.onSync?.((this.options.monotonicNow() - started) / MS_PER_SECOND);
      this.acknowledge(written);
    }
  }

  /** `batches` are durable under the policy: move the durable position, then resolve them. */
  private acknowledge(batches: PendingBatch[]): void {
    const newest = batches[batches.length - 1]!;
    this.durable = newest.last;
    this.durableIndex = newest.entryIndex;
    this.listener.onDurable?.(newest.last, newest.entryIndex);
    for (const batch of batches) batch.resolve();
  }

  /** The interval timer covers idle periods; under load `RoundWriter.writeBuffers` syncs on schedule. */
  private async syncNow(): Promise<void> {
    if (this.closed || this.failure || this.writing || this.syncing || this.sealing) return;
    try {
      await this.rounds.syncOnSchedule();
    } catch (error) {
      this.fail(error, []);
    }
  }

  /** The disk is full: the write stage rests, and a timer tries the waiting batches again. */
  private waitForSpace(error: DiskFullError): void {
    this.waitingForSpace = true;
    if (this.diskFullError) return;
    this.diskFullError = error;
    this.diskFullTimer = this.options.timers.setInterval(() => this.retryAfterDiskFull(), DISK_FULL_RETRY_MS);
    // Appends wait on it (as on a socket): it keeps the process alive until they are written.
    (this.diskFullTimer as { ref?: () => void }).ref?.();
    this.listener.onDiskFull?.(error);
  }

  private retryAfterDiskFull(): void {
    if (!this.waitingForSpace || this.writing || this.sealing || this.closed || this.failure) return;
    this.waitingForSpace = false;
    this.startWriteStage();
  }

  private spaceReturned(): void {
    this.diskFullError = undefined;
    this.options.timers.clearInterval(this.diskFullTimer);
    this.diskFullTimer = undefined;
    this.listener.onDiskFull?.(undefined);
  }

  /**
   * A write or fdatasync failed: nothing written since the last good fdatasync can be trusted
   * (the kernel may have dropped those pages and cleared the error, so a second fdatasync
   * would succeed without writing them). Every waiting batch is rejected and the log takes no
   * more writes; a restart recovers from what is really on disk.
   */
  private fail(error: unknown, round: PendingBatch[]): void {
    const failure =
      error instanceof StorageFailedError
        ? error
        : new StorageFailedError(
            `writing ${this.active().file} failed (${describeIoError(error)}); nothing written since the` +
              ' last successful fdatasync can be trusted, so the log takes no more writes: restart the node' +
              ' to recover from what is on disk',
            error,
          );
    this.failure = failure;
    this.stopDiskFullRetries();
    const waiting = [...round, ...this.unsynced, ...this.queue];
    this.queue = [];
    this.unsynced = [];
    for (const batch of waiting) batch.reject(failure);
    if (this.options.fsync.kind === 'always') this.cutting = this.cutUnsyncedTail();
    this.listener.onFailure?.(failure);
  }

  /**
   * After a failed fdatasync the page cache still holds what it did not write: a restart would
   * read those bytes back as if they were durable, and commit them (a single node commits what
   * its disk holds), and a later power cut would lose them. So they are cut from the active
   * segment, once the write in flight (if any) has landed, or it would write past the cut. If
   * the cut fails too, the restart's recovery judges what is left.
   */
  private async cutUnsyncedTail(): Promise<void> {
    await this.writing;
    const active = this.active();
    const { file, bytes } = this.rounds.syncedTail;
    if (active.file !== file || active.size <= bytes) return;
    try {
      await this.rounds.writer.truncate(bytes);
      active.size = bytes;
    } catch {
      // The disk is failing: nothing more to do here.
    }
  }

  private stopDiskFullRetries(): void {
    if (this.diskFullTimer !== undefined) this.options.timers.clearInterval(this.diskFullTimer);
    this.diskFullTimer = undefined;
    this.waitingForSpace = false;
  }

  /**
   * Gives up the batches waiting for space (the node is closing): they were never written, and
   * are rejected with the disk-full error.
   */
  abandonWaitingForSpace(): void {
    if (!this.waitingForSpace) return;
    const error = this.diskFullError!;
    this.stopDiskFullRetries();
    const waiting = this.queue;
    this.queue = [];
    for (const batch of waiting) batch.reject(error);
  }

  private active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }
}
