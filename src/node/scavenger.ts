import { CorruptLogError } from '../types/errors.js';
import type { EngineState, GoneFloors } from '../engine/state.js';
import type { ScavengedSegment, SegmentedLog } from '../storage/segmented-log.js';
import type { GoneRule } from '../storage/hole-records.js';
import type { Timers } from './environment.js';
import { MAX_SCAVENGE_POINT_STREAMS } from '../types/stream-metadata.js';
import { floorsToRaise } from './scavenge-floors.js';
import type { ScavengeSettings } from './scavenge-options.js';

const MS_PER_SECOND = 1000;
/** `goneStamp` when no stream has anything gone for good. */
const NOTHING_GONE = -1;
/** A pause in scavenging's I/O this long starts a new budget (idle time is not saved up). */
const BUDGET_RESET_MS = 1000;
/** What scavenging a damaged segment comes to: nothing rewritten, the damage reported. */
const DAMAGED = Symbol('damaged');
/** An erasure whose segment still holds uncommitted entries tries again this soon. */
const ERASURE_RETRY_MS = 50;

/** What scavenging did so far, for /metrics and status. */
export interface ScavengeStats {
  /** Passes over the sealed segments finished. */
  passes: number;
  /** Scavenge points this node wrote as leader. */
  points: number;
  segmentsRewritten: number;
  /** Records turned into holes. */
  holes: number;
  bytesReclaimed: number;
  /** The pass under way: sealed segments looked at of those it set out to. */
  pass: { segmentsDone: number; segmentsTotal: number } | undefined;
  /** Streams erased whose bytes this node has not finished removing. */
  pendingErasures: number;
}

/** What one call of `scavenge()` did on this node. */
export interface ScavengeResult {
  /** Streams whose floors the scavenge point raised (0 on a follower, or with nothing new gone). */
  readonly streams: number;
  readonly segmentsRewritten: number;
  readonly holes: number;
  readonly bytesReclaimed: number;
}

/** What the scavenger needs from its node. */
export interface ScavengerPorts {
  readonly storage: SegmentedLog;
  readonly engine: EngineState;
  readonly timers: Timers;
  clock(): number;
  /** The high-water mark: only committed events are ever scavenged. */
  committed(): number;
  /** The last committed entry: a segment is rewritten only when all of it is committed (no truncation can reach it). */
  committedIndex(): number;
  isLeader(): boolean;
  /** Appends a scavenge point (quorum); resolves once committed. */
  writePoint(floors: GoneFloors): Promise<void>;
  /** A sealed segment turned out damaged: reported like damage a read finds. */
  reportDamage(error: CorruptLogError): void;
  timestampAt(position: number): Promise<number | undefined>;
  /** How far this node's erasures are done (erasure-progress.ts), and recording it. */
  loadErasedThrough(): Promise<number>;
  saveErasedThrough(position: number): Promise<void>;
}

/**
 * Scavenging: reclaims the bytes of events that are gone for good. The leader first writes a
 * scavenge point (scavenge-floors.ts): one event that, once committed, makes what the metadata
 * hides now gone on every node alike. Then every node, leader or not, rewrites its committed
 * sealed segments with those events as holes (positions never change), at a bounded rate, by
 * the same rule from the log's own content; so whatever state each node's files are in, all
 * nodes serve the same events. An erasure (a tombstone that removes bytes) seals the active
 * segment and runs a pass as soon as it commits here.
 */
export class Scavenger {
  readonly stats: ScavengeStats = {
    passes: 0,
    points: 0,
    segmentsRewritten: 0,
    holes: 0,
    bytesReclaimed: 0,
    pass: undefined,
    pendingErasures: 0,
  };
  /** Per sealed segment (by base), the gone stamp it was last found clean at. */
  private readonly cleanAt = new Map<number, number>();
  private timer: unknown;
  private running: Promise<ScavengeResult> | undefined;
  /** Whether another pass must follow the one running (something became gone meanwhile). */
  private again = false;
  private stopped = false;
  private readonly pendingErased = new Set<string>();
  /** The newest scavenge point a pass was started for. */
  private pointSeen = -1;
  private retryScheduled = false;
  /** Every erasure at or below this position is done on this node (recorded on disk). */
  private erasedThrough = -1;
  /** Resolves once the erasures a restart interrupted are known (and pending). */
  private resumed: Promise<void> = Promise.resolve();
  /** The I/O budget `pace` keeps: bytes since `startedAt`, and when it last paced. */
  private readonly budget = { startedAt: 0, bytes: 0, lastAt: Number.NEGATIVE_INFINITY };
  /** A damaged segment the last pass could not rewrite (reported; an erasure waits for its repair). */
  private damaged: CorruptLogError | undefined;

  constructor(
    private readonly settings: ScavengeSettings,
    private readonly ports: ScavengerPorts,
  ) {}

  /** Starts the background passes, and finishes erasures a restart interrupted. */
  start(): void {
    if (this.settings.intervalMs !== undefined)
      this.timer = this.ports.timers.setInterval(
        () => void this.scavenge().catch(() => undefined),
        this.settings.intervalMs,
      );
    this.resumed = this.resumeErasures();
  }

  /** Erasures a restart interrupted (those after the recorded progress) run again. */
  private async resumeErasures(): Promise<void> {
    this.erasedThrough = await this.ports.loadErasedThrough().catch(() => -1);
    const mark = this.ports.committed();
    const erased = this.ports.engine.lifecycles
      .entriesAt(mark)
      .filter(([, lifecycle]) => lifecycle.erased && lifecycle.position > this.erasedThrough);
    if (erased.length > 0 && !this.stopped) this.erased(erased.map(([stream]) => stream));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.ports.timers.clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /**
   * One scavenge: on the leader, a scavenge point for what the metadata hides now; then a
   * pass over this node's sealed segments. Runs after the one under way, if any.
   */
  scavenge(): Promise<ScavengeResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = this.runOnce().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        void this.scavenge().catch(() => undefined);
      } else if (this.pendingErased.size > 0 && !this.damaged) {
        this.retryErasures();
      }
    });
    this.running = run;
    return run;
  }

  /** An erasure still pending (its segment holds entries not yet committed, or a pass failed) goes on shortly. */
  private retryErasures(): void {
    if (this.retryScheduled) return;
    this.retryScheduled = true;
    const retry = this.ports.timers.setTimeout(() => {
      this.retryScheduled = false;
      void this.scavenge().catch(() => undefined);
    }, ERASURE_RETRY_MS);
    (retry as { unref?(): unknown }).unref?.();
  }

  /** Erased streams whose tombstones committed here: their bytes go now (from every segment). */
  erased(streams: string[]): void {
    const mark = this.ports.committed();
    for (const stream of streams)
      if (this.ports.engine.lifecycles.at(stream, mark)?.erased === true) this.pendingErased.add(stream);
    this.stats.pendingErasures = this.pendingErased.size;
    if (this.pendingErased.size > 0) void this.scavenge().catch(() => undefined);
  }

  /**
   * Everything up to `position` is committed here: a scavenge point among it starts a pass on
   * this node (the leader that wrote it runs one anyway; the second finds nothing new).
   */
  settled(position: number): void {
    const point = this.ports.engine.lifecycles.lastScavengePoint;
    if (point <= this.pointSeen || point > position || this.stopped) return;
    this.pointSeen = point;
    void this.scavenge().catch(() => undefined);
  }

  /** A snapshot replaced the whole log: what was found clean is not known of the new segments. */
  logReplaced(): void {
    this.cleanAt.clear();
  }

  /**
   * Resolves once every erasure committed here so far has removed its bytes from this node's
   * files; fails with the `CorruptLogError` of a damaged segment that keeps one from it (the
   * erasure is committed, and finishes once the segment is repaired).
   */
  async erasuresDone(): Promise<void> {
    await this.resumed;
    while (this.pendingErased.size > 0 && !this.stopped) {
      if (this.damaged) throw this.damaged;
      await this.scavenge().catch(() => undefined);
      if (this.pendingErased.size > 0 && !this.damaged) await this.sleep(ERASURE_RETRY_MS);
    }
  }

  private async runOnce(): Promise<ScavengeResult> {
    // A failed scavenge point (leadership lost) does not keep this node from its own pass.
    let pointsFailed: unknown;
    const streams = this.ports.isLeader()
      ? await this.writePoints().catch((error: unknown) => ((pointsFailed = error), 0))
      : 0;
    if (this.pendingErased.size > 0) await this.ports.storage.sealActive();
    const { coveredThrough, ...rewritten } = await this.pass();
    this.settleErasures(coveredThrough);
    if (pointsFailed !== undefined) throw pointsFailed;
    return { streams, ...rewritten };
  }

  /**
   * An erasure is done once every segment up to its tombstone is rewritten and sealed. A segment
   * sealed with entries not yet committed waits for them: the next pass follows shortly.
   */
  private settleErasures(coveredThrough: number): void {
    const { engine, storage } = this.ports;
    const activeBase = storage.describeSegments().at(-1)!.base;
    let done = -1;
    let waiting = Number.POSITIVE_INFINITY;
    for (const stream of this.pendingErased) {
      const tombstone = engine.lifecycles.at(stream, this.ports.committed())?.position ?? -1;
      if (tombstone <= coveredThrough && tombstone < activeBase) {
        this.pendingErased.delete(stream);
        done = Math.max(done, tombstone);
      } else {
        waiting = Math.min(waiting, tombstone);
      }
    }
    this.stats.pendingErasures = this.pendingErased.size;
    // Recorded only up to the oldest erasure still waiting: every one at or below is done.
    const through = Math.min(done, waiting - 1);
    if (through > this.erasedThrough) {
      this.erasedThrough = through;
      void this.ports.saveErasedThrough(through).catch(() => undefined);
    }
  }

  /** Writes the scavenge points for what the metadata hides now; returns how many streams they name. */
  private async writePoints(): Promise<number> {
    const { ports } = this;
    const floors = await floorsToRaise({
      engine: ports.engine,
      mark: ports.committed(),
      now: ports.clock(),
      timestampAt: (position) => ports.timestampAt(position),
    });
    for (let at = 0; at < floors.length; at += MAX_SCAVENGE_POINT_STREAMS) {
      await ports.writePoint(floors.slice(at, at + MAX_SCAVENGE_POINT_STREAMS));
      this.stats.points++;
    }
    return floors.length;
  }

  /**
   * Rewrites every committed sealed segment that holds gone events not yet holes. Returns what
   * it did and the position through which every segment is now clean.
   */
  private async pass(): Promise<Omit<ScavengeResult, 'streams'> & { coveredThrough: number }> {
    const { storage, engine } = this.ports;
    const stamp = engine.lifecycles.goneStamp(this.ports.committed());
    const totals = { segmentsRewritten: 0, holes: 0, bytesReclaimed: 0 };
    const sealed = storage.sealedSegments();
    if (stamp === NOTHING_GONE) {
      // Nothing is gone anywhere: the pass is done without reading a segment.
      this.stats.passes++;
      return { ...totals, coveredThrough: sealed.at(-1)?.lastPosition ?? -1 };
    }
    let coveredThrough = storage.firstPosition - 1;
    let contiguous = true;
    this.damaged = undefined;
    this.stats.pass = {
      segmentsDone: 0,
      segmentsTotal: sealed.filter((s) => this.cleanAt.get(s.base) !== stamp).length,
    };
    try {
      for (const segment of sealed) {
        if (this.stopped || segment.lastIndex > this.ports.committedIndex()) break;
        if (this.cleanAt.get(segment.base) !== stamp) {
          const done = await this.scavengeSegment(segment.base);
          if (done === DAMAGED) contiguous = false;
          else {
            if (done) this.count(done, totals);
            this.cleanAt.set(segment.base, stamp);
          }
          this.stats.pass.segmentsDone++;
        }
        if (contiguous) coveredThrough = segment.lastPosition;
      }
      this.stats.passes++;
    } finally {
      this.stats.pass = undefined;
    }
    return { ...totals, coveredThrough };
  }

  /**
   * Rewrites one sealed segment. A damaged one is reported (as a read would) and left as it is:
   * it is repaired from the peers or a backup, and scavenged after.
   */
  private async scavengeSegment(base: number): Promise<ScavengedSegment | undefined | typeof DAMAGED> {
    try {
      return await this.ports.storage.scavengeSealed(base, this.goneRule(), (bytes) => this.pace(bytes));
    } catch (error) {
      if (!(error instanceof CorruptLogError)) throw error;
      this.damaged = error;
      this.ports.reportDamage(error);
      return DAMAGED;
    }
  }

  /** Gone: below the stream's floor as of the committed mark (floors only rise once committed). */
  private goneRule(): GoneRule {
    const { lifecycles } = this.ports.engine;
    return (stream, index) => {
      const lifecycle = lifecycles.at(stream, this.ports.committed());
      return lifecycle !== undefined && index < lifecycle.goneBefore;
    };
  }

  private count(
    done: ScavengedSegment,
    totals: { segmentsRewritten: number; holes: number; bytesReclaimed: number },
  ): void {
    const reclaimed = done.bytesBefore - done.bytesAfter;
    totals.segmentsRewritten++;
    totals.holes += done.holes;
    totals.bytesReclaimed += reclaimed;
    this.stats.segmentsRewritten++;
    this.stats.holes += done.holes;
    this.stats.bytesReclaimed += reclaimed;
  }

  /**
   * Keeps reads and writes together at the configured rate: waits until `bytes` more are due
   * by the budget that started with the current run of I/O (work already counts toward it), and
   * yields to the event loop at least, so appends and timers run between chunks.
   */
  private pace(bytes: number): Promise<void> {
    const now = this.ports.clock();
    if (now - this.budget.lastAt > BUDGET_RESET_MS) {
      this.budget.startedAt = now;
      this.budget.bytes = 0;
    }
    this.budget.lastAt = now;
    this.budget.bytes += bytes;
    const due = this.budget.startedAt + (this.budget.bytes * MS_PER_SECOND) / this.settings.bytesPerSecond;
    return this.sleep(Math.max(0, Math.ceil(due - now)));
  }

  /** Resolves after `ms` on the injected timers (0: the next turn of the event loop). */
  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.ports.timers.setTimeout(resolve, ms));
  }
}
