import { EventStream } from '../stream/index.js';
import { LogClosedError } from '../types/errors.js';
import type { TransientEvent } from '../types/event.js';
import { decodeBatch } from './event-codec.js';
import type { LiveItem, LogSubscription } from './subscription.js';

/**
 * The publisher looks for subscribers lagging behind the live tail each time this fraction of
 * `subscriberMaxLag` events has been published: a lagging subscriber pins at most ~1.125 × the
 * bound, and the check costs O(live subscribers) per few thousand events, not per event.
 */
const LAG_CHECKS_PER_BOUND = 8;
/** Checkpoints come at most every `checkpointEvery` events, and at least 1/this of the log apart. */
const CHECKPOINT_INTERVAL_FRACTION = 4;
/** Published batches at the head of the queue are cut off once this many have gathered. */
const PENDING_COMPACT_BATCHES = 1024;

/** A batch written to this node's log but not yet committed. */
export interface PendingBatch {
  /** Position of its last event. */
  last: number;
  /** The encoded batch: decoded into events at commit only if someone is on the live tail. */
  bytes: Buffer;
}

export interface PublisherOptions {
  /** A subscriber further behind the live tail than this many events goes back to reading from disk. */
  subscriberMaxLag: number;
  /** Events between checkpoints, at least (the interval grows with the log). */
  checkpointEvery: number;
  /** Writes a checkpoint of the engine as of `position`; a failure only makes the next open replay more. */
  saveCheckpoint: (position: number) => Promise<void>;
}

/** Where a reopened node's publisher starts. */
export interface PublisherStart {
  committedPosition: number;
  /** The batches on disk past the committed prefix, oldest first (they are published once committed). */
  uncommitted: readonly PendingBatch[];
  /** The last entry on disk: everything up to it is queued already or published. */
  lastQueuedIndex: number;
  checkpointPosition: number;
}

/**
 * Makes committed events visible: moves the high-water mark, publishes committed batches to
 * the live tail, wakes whoever waits for a position, detaches subscribers that lag too far,
 * and writes checkpoints as the log grows.
 */
export class Publisher {
  /**
   * The high-water mark: the last committed position, the one readers see. Only grows while
   * the node runs (a committed entry is never replaced), and never passes the engine's last
   * position.
   */
  private mark: number;
  /**
   * Batches written but not yet committed, in position order from `pendingHead` on; every one
   * ends after `mark`. The slots before `pendingHead` are published and cleared.
   */
  private pending: Array<PendingBatch | undefined> = [];
  private pendingHead = 0;
  /** Raft index of the newest entry queued in `pending` (an entry is queued once). */
  private lastQueuedIndex: number;
  private commitWaiters: Array<{ position: number; resolve: () => void; reject: (error: Error) => void }> = [];
  /** Set once the node stopped (storage failed): no position commits any more, and no checkpoint is written. */
  private failure: Error | undefined;
  private publishedSinceLagCheck = 0;
  private lastCheckpoint: number;
  private checkpointing: Promise<void> | undefined;
  readonly live = new EventStream<LiveItem>();
  readonly liveSubscriptions = new Set<LogSubscription>();

  constructor(
    private readonly options: PublisherOptions,
    start: PublisherStart,
  ) {
    this.mark = start.committedPosition;
    for (const batch of start.uncommitted) this.pending.push(batch);
    this.lastQueuedIndex = start.lastQueuedIndex;
    this.lastCheckpoint = start.checkpointPosition;
  }

  get committedPosition(): number {
    return this.mark;
  }

  /** Queues the events `..last` of entry `entryIndex` for publication at commit (once per entry). */
  enqueue(entryIndex: number, last: number, bytes: Buffer): void {
    if (entryIndex <= this.lastQueuedIndex) return;
    this.pending.push({ last, bytes });
    this.lastQueuedIndex = entryIndex;
  }

  /** Entries from `entryIndex` on were replaced: their batches (past `lastPosition`) will never be published. */
  dropFrom(entryIndex: number, lastPosition: number): void {
    while (this.pending.length > this.pendingHead && this.pending[this.pending.length - 1]!.last > lastPosition)
      this.pending.pop();
    this.lastQueuedIndex = Math.min(this.lastQueuedIndex, entryIndex - 1);
  }

  /** The log is committed up to `position`: move the mark and publish, in one synchronous step. */
  commit(position: number): void {
    if (position <= this.mark) return;
    this.mark = position;
    this.publishUpTo(position);
    this.wakeWaiters(position);
    if (this.publishedSinceLagCheck * LAG_CHECKS_PER_BOUND >= this.options.subscriberMaxLag) {
      this.publishedSinceLagCheck = 0;
      this.detachLaggingSubscribers();
    }
    this.checkpointIfDue(position);
  }

  /**
   * The log was replaced by one that starts after `position`, the end of entry `entryIndex`,
   * all committed (a peer's checkpoint, installed). Nothing before it will be published:
   * subscribers on the live tail that have not reached it go back to reading from disk, where
   * the log now starts after it (they get PositionTrimmedError); waiters up to it wake.
   */
  restartAt(entryIndex: number, position: number): void {
    this.pending = [];
    this.pendingHead = 0;
    this.lastQueuedIndex = entryIndex;
    this.lastCheckpoint = Math.max(this.lastCheckpoint, position);
    let detached = false;
    for (const subscription of this.liveSubscriptions) {
      if (subscription.position >= position) continue;
      subscription.detachFromTail();
      detached = true;
    }
    // An empty batch wakes the ones waiting on the tail, so they find out now, not at the next commit.
    if (detached) this.live.publish([]);
    if (position <= this.mark) return;
    this.mark = position;
    this.wakeWaiters(position);
  }

  publishTransient(event: TransientEvent): void {
    this.live.publish(event);
  }

  /** Resolves once `position` is committed (at once if it is). */
  waitCommitted(position: number): Promise<void> {
    if (position <= this.mark) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.commitWaiters.push({ position, resolve, reject }));
  }

  /** How far the slowest live subscriber is behind the mark, in events. */
  maxSubscriberLag(): number {
    let maxLag = 0;
    for (const subscription of this.liveSubscriptions) maxLag = Math.max(maxLag, this.mark - subscription.position);
    return maxLag;
  }

  /** Waits for a checkpoint in progress, then writes one of the mark if the last is older. */
  async checkpointNow(): Promise<void> {
    await this.checkpointing;
    if (this.mark > this.lastCheckpoint && !this.failure) await this.checkpoint(this.mark);
  }

  /**
   * The node stopped: whoever waits for a position fails with `error` (resolving them would
   * answer a re-sent append as if its original had committed), and the live tail ends.
   */
  fail(error: Error): void {
    this.failure ??= error;
    this.live.close();
    const waiting = this.commitWaiters;
    this.commitWaiters = [];
    for (const waiter of waiting) waiter.reject(error);
  }

  /**
   * Ends the live tail (the log is closing). Whoever still waits for a position fails: it was
   * not committed while this node ran (resolving would answer a re-sent append as written).
   */
  close(): void {
    this.live.close();
    const waiting = this.commitWaiters;
    this.commitWaiters = [];
    this.failure ??= new LogClosedError('wait for a commit');
    for (const waiter of waiting) waiter.reject(this.failure);
  }

  private publishUpTo(position: number): void {
    // With nobody on the live tail, nobody holds a node before it: publishing would be
    // unobservable (a subscriber catching up reads these from disk), so skip the decoding.
    const anyoneLive = this.liveSubscriptions.size > 0;
    while (this.pendingHead < this.pending.length && this.pending[this.pendingHead]!.last <= position) {
      const batch = this.pending[this.pendingHead]!;
      this.pending[this.pendingHead++] = undefined; // published: its bytes may go
      if (anyoneLive) {
        const events = decodeBatch(batch.bytes);
        this.live.publish(events);
        this.publishedSinceLagCheck += events.length;
      }
    }
    // Under continuous load the queue is never empty at a commit: compact it as it goes.
    if (this.pendingHead === this.pending.length) {
      this.pending = [];
      this.pendingHead = 0;
    } else if (this.pendingHead >= PENDING_COMPACT_BATCHES) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }

  private wakeWaiters(position: number): void {
    if (this.commitWaiters.length === 0) return;
    const waiting = this.commitWaiters;
    this.commitWaiters = [];
    for (const waiter of waiting) {
      if (waiter.position <= position) waiter.resolve();
      else this.commitWaiters.push(waiter);
    }
  }

  private detachLaggingSubscribers(): void {
    const bound = this.mark - this.options.subscriberMaxLag;
    for (const subscription of this.liveSubscriptions) {
      if (subscription.position < bound) subscription.detachFromTail();
    }
  }

  /**
   * A checkpoint holds the whole state (8 bytes per event), so a fixed interval would make
   * checkpoints a growing share of all writes (~50% at 10M events): the interval grows with
   * the log instead, keeping them near 20% while a crash replays at most a quarter of it.
   */
  private checkpointIfDue(position: number): void {
    const interval = Math.max(this.options.checkpointEvery, Math.floor(position / CHECKPOINT_INTERVAL_FRACTION));
    if (position - this.lastCheckpoint >= interval && !this.checkpointing && !this.failure) {
      this.checkpointing = this.checkpoint(position).finally(() => (this.checkpointing = undefined));
    }
  }

  private async checkpoint(position: number): Promise<void> {
    try {
      await this.options.saveCheckpoint(position);
      this.lastCheckpoint = position;
    } catch {
      // A missing checkpoint only makes the next open replay more; the log itself is intact.
    }
  }
}
