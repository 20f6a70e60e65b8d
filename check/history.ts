/**
 * A recorded history of operations against an Ordo log, as a Jepsen-style test records it:
 * each append with how it ended, and what each reader observed, in the order it observed it.
 * The checker (checker.ts) reads only this; it knows nothing of how the history was made.
 */

/** How an append ended for the client: acknowledged, definitely not written, or not known. */
export type AppendOutcome = 'ok' | 'failed' | 'unknown';

export interface AppendOperation {
  /** Which client made it (for reports). */
  process: string;
  stream: string;
  /** The event id the client chose: how reads are matched to appends. */
  eventId: string;
  /** The expected count sent ('any' for none). */
  expected: 'any' | number;
  outcome: AppendOutcome;
  /** For `ok`: where the log said it put the event. */
  position?: number;
  index?: number;
  /** For `failed`/`unknown`: the error code the client got. */
  error?: string;
  /** Milliseconds since the run started, for reports. */
  invokedAt: number;
  completedAt: number;
}

/** One event as a reader saw it. */
export interface ObservedEvent {
  position: number;
  stream: string;
  index: number;
  eventId: string;
}

export interface ReadOperation {
  process: string;
  /**
   * `subscription`: a catch-up-then-live subscription of the whole log; `read`: one readAll;
   * `final`: the whole log read after every fault healed (the checker's ground truth).
   */
  kind: 'subscription' | 'read' | 'final';
  /** The position the reader started at; an unfiltered reader must see every position from it on. */
  from: number;
  events: ObservedEvent[];
  /**
   * For the `final` read: where the log it read starts (`firstPosition`, once retention removed
   * the oldest segments); it must equal `from`. Positions below it are not in the read, so an
   * acknowledged append there is not lost. Default 0: the whole log.
   */
  trimmedBefore?: number;
  /**
   * Where a reader's next position had been removed by retention and it went on from the start
   * of the log it then read, as a consumer without history does: after `after` it resumed at
   * `from`, and the positions in between are not skipped.
   */
  restarts?: ReadRestart[];
}

/** A reader that found its next position removed, and went on from the log's first position. */
export interface ReadRestart {
  /** The last position it had seen (`from - 1` of the read if none). */
  after: number;
  /** The log's first position where it resumed. */
  from: number;
}

export interface History {
  appends: AppendOperation[];
  reads: ReadOperation[];
}
