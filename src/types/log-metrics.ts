/** Running totals and gauges for /metrics. */
export interface LogMetrics {
  /** The high-water mark. */
  headPosition: number;
  /** Appends accepted since open (an appendMany is one). */
  appends: number;
  appendedEvents: number;
  /** Bytes written to segments since open. */
  bytesWritten: number;
  fsyncs: number;
  streams: number;
  /** Subscriptions on the live tail (those catching up from disk are not counted). */
  liveSubscribers: number;
  /** How far the slowest live subscriber is behind the high-water mark, in events. */
  maxSubscriberLag: number;
  /** Bytes of sealed segments the background scrub has read and verified since open. */
  scrubVerifiedBytes: number;
  /** Scrub passes over every sealed segment completed since open. */
  scrubPasses: number;
  /** When the last scrub pass ended, in milliseconds since the epoch; 0 before the first. */
  scrubLastPassEndTime: number;
  /** How far the scrub pass in progress is, from 0 to 1; 0 between passes. */
  scrubPassProgress: number;
  /** Distinct damaged batches found since open, by a read or by the scrub. */
  damagedBatches: number;
  /** Whether this node takes appends now: see `WriteState`. */
  writeState: WriteState;
  /** The oldest position still readable: 0 until retention removes the first segments. */
  firstPosition: number;
  /** Segments and bytes retention removed since open. */
  retentionDroppedSegments: number;
  retentionDroppedBytes: number;
  /** Scavenging since open: passes finished, records turned into holes, bytes reclaimed. */
  scavengePasses: number;
  scavengeHoles: number;
  scavengeBytesReclaimed: number;
  /** The pass under way, 0 to 1 (0 when none runs). */
  scavengePassProgress: number;
  /** Erased streams whose bytes this node has not finished removing. */
  erasuresPending: number;
}

/**
 * Whether a node takes appends: `accepting`; `disk-full` (appends refused with DISK_FULL until a
 * write succeeds again, by itself; reads go on); `stopped` (a failed fdatasync: every operation
 * fails with STORAGE_FAILED until the process is restarted).
 */
export type WriteState = 'accepting' | 'disk-full' | 'stopped';

/** One damaged batch of a sealed segment: where it is, what is wrong, and what found it. */
export interface DamagedBatch {
  file: string;
  /** Byte offset of the batch in the file. */
  offset: number;
  reason: string;
  foundBy: 'read' | 'scrub';
  /** Milliseconds since the epoch. */
  foundAt: number;
}

/** The background scrub's settings and progress, and the damage found (for `ordo status`). */
export interface ScrubStatus {
  /** False when the log was opened with `scrub: false`. */
  enabled: boolean;
  bytesPerSecond: number;
  intervalMs: number;
  verifiedBytes: number;
  passes: number;
  /** Milliseconds since the epoch; undefined before the first pass ends. */
  lastPassEndTime: number | undefined;
  /** The pass in progress: bytes verified of the sealed bytes it covers. */
  currentPass: { verifiedBytes: number; totalBytes: number } | undefined;
  /** Distinct damaged batches found since open (the list below keeps the first ones). */
  damagedBatches: number;
  damaged: DamagedBatch[];
  /** What to do about the damage; undefined while there is none. */
  advice: string | undefined;
}
