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
}

export interface History {
  appends: AppendOperation[];
  reads: ReadOperation[];
}
