import { CorruptLogError } from '../types/errors.js';
import type { DamagedBatch } from '../types/log-metrics.js';
import { readAt } from './file-io.js';
import type { FileHandle, FileSystem } from './file-system.js';
import { BATCH_PREFIX_BYTES, checkBatch, readBatchHeader } from './record.js';
import type { Segment } from './segment.js';
import { SEGMENT_HEADER_BYTES, checkSegmentHeader } from './segment-file.js';
import type { Clock } from './time.js';

/** A few MiB/s: a full pass over 100 GiB takes about 7 hours and leaves the disk to the log. */
export const DEFAULT_SCRUB_BYTES_PER_SECOND = 4 * 1024 * 1024;
/** At most one pass a day: bit rot is rare, and a pass re-reads every sealed byte. */
export const DEFAULT_SCRUB_INTERVAL_MS = 24 * 60 * 60 * 1000;
/** The first pass waits this long after open (or the interval, when shorter): startup first. */
export const SCRUB_FIRST_PASS_DELAY_MS = 60_000;
/** Largest read the scrub makes at once (smaller when the rate is lower, so reads stay even). */
const SCRUB_CHUNK_BYTES = 64 * 1024;
/** Damaged batches remembered one by one; beyond, each new report is counted without its details. */
const MAX_DAMAGE_RECORDS = 1000;
const MS_PER_SECOND = 1000;

export interface ScrubSettings {
  bytesPerSecond: number;
  intervalMs: number;
}

/** One-shot timers, as the scrub's pacing uses them (the node's injected ones). */
export interface ScrubTimers {
  setTimeout(callback: () => void, ms: number): { unref?(): unknown };
  clearTimeout(handle: unknown): void;
}

/** The segments the scrub walks: the log's own list, which rolls and truncates while it runs. */
export interface ScrubTarget {
  /** The sealed segments now, in order (never the active one). */
  sealedSegments(): readonly Segment[];
  /** Whether `segment` is still one of the sealed segments (a truncation can reopen one). */
  isSealed(segment: Segment): boolean;
}

/**
 * The damaged batches found since open, each reported once however often reads run into it.
 * Keyed by file and byte offset, so a read and the scrub finding the same batch count it once.
 */
export class DamageLog {
  /** Told once of each damaged batch. */
  onDamage: ((damage: DamagedBatch) => void) | undefined;
  private readonly found = new Map<string, DamagedBatch>();
  /** Distinct damaged batches; exceeds `found.size` only once MAX_DAMAGE_RECORDS are kept. */
  private total = 0;

  /** `whenFound` runs once per damaged batch, before the listener: the node's own response to it. */
  constructor(
    private readonly clock: Clock,
    private readonly whenFound: (damage: DamagedBatch) => void = () => {},
  ) {}

  get count(): number {
    return this.total;
  }

  list(): DamagedBatch[] {
    return [...this.found.values()];
  }

  report(error: CorruptLogError, foundBy: DamagedBatch['foundBy']): void {
    const key = `${error.file}\u0000${error.offset}`;
    if (this.found.has(key)) return;
    const damage = { file: error.file, offset: error.offset, reason: error.reason, foundBy, foundAt: this.clock() };
    if (this.found.size < MAX_DAMAGE_RECORDS) this.found.set(key, damage);
    this.total++;
    this.whenFound(damage);
    this.onDamage?.(damage);
  }
}

/** Where the next batch of a segment must start, as far as the walk knows it. */
interface Expected {
  position: number;
  /** Undefined after resuming past damage: the next batch's entry index is taken as it is. */
  entryIndex: number | undefined;
}

/** Damage found in a chunk, at `offset` of the file. */
interface Found {
  offset: number;
  reason: string;
}

/**
 * The background scrub: re-reads every sealed segment, one pass at most every `intervalMs`,
 * at most `bytesPerSecond`, and checks each batch (checksum, lengths, entry index and position
 * in sequence). A sealed segment is not scanned at open, so this is what finds bit rot before a
 * read does. It reads through its own handle and never waits on or delays the write path.
 */
export class Scrubber {
  private verifiedBytes = 0;
  private passes = 0;
  private lastPassEnd: number | undefined;
  private pass: { verifiedBytes: number; totalBytes: number } | undefined;
  private stopped = false;
  private timer: unknown;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  /** Bytes read at once: at most the rate, so a second never reads more than the rate. */
  private readonly chunkBytes: number;

  constructor(
    private readonly target: ScrubTarget,
    private readonly settings: ScrubSettings,
    private readonly damage: DamageLog,
    private readonly io: { fs: FileSystem; clock: Clock; timers: ScrubTimers },
  ) {
    this.chunkBytes = Math.min(SCRUB_CHUNK_BYTES, settings.bytesPerSecond);
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Stops after the read in progress; resolves once the scrub holds no file open. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.io.timers.clearTimeout(this.timer);
    this.wake?.();
    await this.running;
  }

  status(): {
    verifiedBytes: number;
    passes: number;
    lastPassEndTime: number | undefined;
    currentPass: { verifiedBytes: number; totalBytes: number } | undefined;
  } {
    return {
      verifiedBytes: this.verifiedBytes,
      passes: this.passes,
      lastPassEndTime: this.lastPassEnd,
      currentPass: this.pass ? { ...this.pass } : undefined,
    };
  }

  private async run(): Promise<void> {
    let delay = Math.min(SCRUB_FIRST_PASS_DELAY_MS, this.settings.intervalMs);
    while (await this.sleep(delay)) {
      const started = this.io.clock();
      await this.runPass();
      if (this.stopped) return;
      this.passes++;
      this.lastPassEnd = this.io.clock();
      // Passes start at most once per interval; a pass longer than that is followed at once.
      const elapsed = this.lastPassEnd - started;
      delay = Math.max(0, Math.min(this.settings.intervalMs, this.settings.intervalMs - elapsed));
    }
  }

  private async runPass(): Promise<void> {
    const segments = [...this.target.sealedSegments()];
    this.pass = { verifiedBytes: 0, totalBytes: segments.reduce((sum, segment) => sum + segment.size, 0) };
    try {
      for (const segment of segments) {
        if (this.stopped) return;
        if (this.target.isSealed(segment)) await this.verifySegment(segment);
      }
    } finally {
      this.pass = undefined;
    }
  }

  /** Walks one sealed segment chunk by chunk, pacing each read; reports what is damaged. */
  private async verifySegment(segment: Segment): Promise<void> {
    const size = segment.size;
    const handle = await this.io.fs.open(segment.file, 'r').catch(() => undefined);
    if (!handle) return; // removed by a truncation since the pass began
    try {
      const expected: Expected = { position: segment.base, entryIndex: segment.baseIndex };
      let offset = 0;
      let chunk = Buffer.allocUnsafe(this.chunkBytes);
      while (offset < size && !this.stopped) {
        const length = await this.readPaced(handle, chunk, Math.min(chunk.length, size - offset), offset);
        const walked = walkChunk(segment, chunk, length, offset, expected);
        if (walked.found) {
          this.found(segment, size, walked.found);
          const resume = resumeAfter(segment, walked.found.offset, expected);
          if (resume === undefined) return;
          offset = resume;
        } else if (walked.consumed === 0) {
          const needed = chunk.readUInt32LE(0) + BATCH_PREFIX_BYTES;
          if (offset + needed > size || length < BATCH_PREFIX_BYTES) {
            this.found(segment, size, { offset, reason: `batch of ${needed} bytes runs past the end of the segment` });
            return;
          }
          chunk = Buffer.allocUnsafe(needed); // one batch larger than a chunk: read it whole
        } else {
          offset += walked.consumed;
          chunk = chunk.length > this.chunkBytes ? Buffer.allocUnsafe(this.chunkBytes) : chunk;
        }
      }
      if (offset >= size && expected.position - 1 !== segment.lastPosition) {
        const reason = `segment ends at position ${expected.position - 1}, its index says ${segment.lastPosition}`;
        this.found(segment, size, { offset: size, reason });
      }
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  /** Reads, counts, then waits as long as those bytes take at the rate (the wait is the bound). */
  private async readPaced(handle: FileHandle, chunk: Buffer, length: number, offset: number): Promise<number> {
    const read = await readAt(handle, chunk, length, offset);
    this.verifiedBytes += read;
    if (this.pass) this.pass.verifiedBytes = Math.min(this.pass.totalBytes, this.pass.verifiedBytes + read);
    await this.sleep(Math.ceil((read * MS_PER_SECOND) / this.settings.bytesPerSecond));
    return read;
  }

  /** Damage counts only while the segment is still the sealed one read (not cut and rewritten). */
  private found(segment: Segment, size: number, found: Found): void {
    if (!this.target.isSealed(segment) || segment.size !== size) return;
    this.damage.report(new CorruptLogError(segment.file, found.offset, found.reason), 'scrub');
  }

  /** Resolves true after `ms` on the injected timers, false at once when stopped. */
  private sleep(ms: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.wake = () => resolve(false);
      this.timer = this.io.timers.setTimeout(() => resolve(!this.stopped), ms);
      (this.timer as { unref?(): unknown }).unref?.(); // a scrub never keeps a process alive
    });
  }
}

/**
 * Checks the whole batches in `chunk[0, length)` (read at file offset `offset`): the segment
 * header first when the chunk starts the file, then each batch's checksum and its place in
 * sequence. Returns the bytes of whole good batches, or the first damage.
 */
function walkChunk(
  segment: Segment,
  chunk: Buffer,
  length: number,
  offset: number,
  expected: Expected,
): { consumed: number; found?: Found } {
  let at = 0;
  if (offset === 0) {
    const problem = checkSegmentHeader(chunk.subarray(0, Math.min(length, SEGMENT_HEADER_BYTES)), segment.base);
    if (problem) return { consumed: 0, found: { offset: 0, reason: problem } };
    at = SEGMENT_HEADER_BYTES;
  }
  for (;;) {
    const check = checkBatch(chunk, at, length);
    if (check.kind === 'incomplete') return { consumed: at };
    if (check.kind === 'corrupt') return { consumed: at, found: { offset: offset + at, reason: check.reason } };
    const header = readBatchHeader(chunk, at);
    const problem = outOfSequence(header, expected);
    if (problem) return { consumed: at, found: { offset: offset + at, reason: problem } };
    expected.position = header.firstPosition + header.count;
    expected.entryIndex = header.entryIndex + 1;
    at = check.end;
  }
}

function outOfSequence(header: { entryIndex: number; firstPosition: number }, expected: Expected): string | undefined {
  if (expected.entryIndex !== undefined && header.entryIndex !== expected.entryIndex)
    return `entry ${header.entryIndex} where entry ${expected.entryIndex} was expected`;
  if (header.firstPosition !== expected.position)
    return `batch starts at position ${header.firstPosition}, expected ${expected.position}`;
  return undefined;
}

/**
 * Where the walk goes on after damage at `offset`: the next sparse index entry past it (a batch
 * start the index recorded when the segment was written), or undefined when none is left.
 */
function resumeAfter(segment: Segment, offset: number, expected: Expected): number | undefined {
  const next = segment.index.entries().find((entry) => entry.offset > offset);
  if (!next) return undefined;
  expected.position = next.position;
  expected.entryIndex = undefined;
  return next.offset;
}
