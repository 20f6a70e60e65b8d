import type { Expected } from './errors.js';
import type { Claim } from './claims.js';
import type { Json } from './json-value.js';
import type { ReadConsistency } from './read-consistency.js';
import type { StreamLifecycle } from './stream-metadata.js';

// Defined on their own, so that the lifecycle types (stream-metadata.ts) can use them without a cycle.
export type { Json, ReadConsistency };

/** How an event's `data` bytes are to be read. Ordo itself never decodes them. */
export type ContentType = 'json' | 'binary';

/** A committed event, as every reader sees it. */
export interface Event {
  /** UUID; the writer may choose it (idempotency key). */
  readonly id: string;
  readonly stream: string;
  readonly type: string;
  /** Opaque bytes. `contentType: 'json'` means UTF-8 JSON (see `eventJson`). */
  readonly data: Uint8Array;
  readonly contentType: ContentType;
  readonly metadata: Readonly<Record<string, Json>> | undefined;
  /** Place in the log: 0, 1, 2, … with no gaps. */
  readonly position: number;
  /** Place within its stream: 0, 1, 2, … with no gaps. */
  readonly index: number;
  /** Milliseconds since the epoch, set by the log when the event was appended. */
  readonly timestamp: number;
}

/** An event delivered to live subscribers only and never stored: it has no position. */
export interface TransientEvent {
  readonly transient: true;
  readonly id: string;
  readonly stream: string;
  readonly type: string;
  readonly data: Uint8Array;
  readonly contentType: ContentType;
  readonly timestamp: number;
}

/** What a writer hands to `append`. */
export interface EventInput {
  /** UUID. Generated when absent; give one to make retries idempotent. */
  id?: string;
  type: string;
  /** Bytes are stored as they are; anything else is stored as JSON. */
  data?: Uint8Array | Json;
  metadata?: Record<string, Json>;
}

export type AckMode = 'none' | 'leader' | 'quorum';

export interface AppendOptions {
  /** Precondition on the stream's count. Default `'any'`. */
  expected?: Expected | undefined;
  /**
   * When the append resolves: `'none'` once accepted, `'leader'` once durable on the leader (a
   * failover can still lose it), `'quorum'` once committed. Default `'quorum'`.
   */
  ack?: AckMode;
  /**
   * Uniqueness claims, checked atomically with the append: each value must be free or already
   * held by this stream, or the append fails with `ClaimConflictError` and nothing is written.
   * Held values survive restarts and failover (they are part of the replicated log).
   */
  claims?: Claim[];
  /** Values this stream holds and gives up (applied before `claims`; releasing a free value is a no-op). */
  releases?: Claim[];
  /**
   * Gives up waiting for the answer. An append already handed to the log (or sent to a server)
   * may still be written: retry it with the same event ids to find out.
   */
  signal?: AbortSignal;
}

export interface AppendResult {
  /** Position of the first event of the append. */
  readonly position: number;
  /** Stream index of the first event of the append. */
  readonly index: number;
  /** The stream's count after the append. */
  readonly count: number;
}

export interface ExistsOrWriteResult extends AppendResult {
  /** `true` when this call wrote the event, `false` when it was already there. */
  readonly written: boolean;
}

export interface StreamAppend {
  stream: string;
  events: EventInput[];
  expected?: Expected | undefined;
  /** See AppendOptions.claims: held by this part's stream. */
  claims?: Claim[];
  releases?: Claim[];
}

export interface AppendManyResult {
  /** Position of the first event written. */
  readonly position: number;
  /** One result per `StreamAppend`, in the order given. */
  readonly streams: ReadonlyArray<AppendResult & { readonly stream: string }>;
}

export interface ReadOptions {
  /** First index to read (backwards: the last). Default: 0, or the end when backwards. */
  from?: number;
  limit?: number;
  backwards?: boolean;
  /** See ReadConsistency. Default `'linearizable'`. */
  consistency?: ReadConsistency;
  /**
   * Read-your-writes on any node: wait until this node has committed at least this position
   * (e.g. the one an append returned) before reading. Fails with TIMEOUT after `timeoutMs` of
   * the log (default 10 s). Combine with `consistency: 'local'` to read from a follower.
   */
  minPosition?: number;
}

/** Which events a `readAll` or a subscription passes on. Every given criterion must match. */
export interface Filter {
  /** Exact stream names. */
  streams?: string[];
  /** Stream name prefixes. */
  prefixes?: string[];
  /** Event types. */
  types?: string[];
}

export interface ReadAllOptions {
  /** First position to read. Default 0. */
  from?: number;
  limit?: number;
  filter?: Filter | undefined;
  /** See ReadConsistency. Default `'linearizable'`. */
  consistency?: ReadConsistency;
  /** See ReadOptions.minPosition. */
  minPosition?: number;
}

export interface SubscribeOptions {
  /** `'start'` (0), `'end'` (live only) or a position. Default `'start'`. */
  from?: 'start' | 'end' | number;
  filter?: Filter | undefined;
  /** Also deliver transient events that match the filter. Default false. */
  transient?: boolean;
  /**
   * Read-your-writes on a follower: with `from: 'end'`, start after this position even if
   * this node has not committed it yet (e.g. the position an append returned: the live tail
   * starts after your own write, not before it). The subscription then delivers as this node
   * commits. A `from` position is taken as given.
   */
  minPosition?: number;
  signal?: AbortSignal;
}

/** A catch-up-then-live subscription: an async iterator with a synchronous fast path. */
export interface Subscription<T = Event> extends AsyncIterableIterator<T> {
  /** Position of the last committed event delivered, or `from - 1` before the first. */
  readonly position: number;
  /** Ends the subscription; a pending `next()` resolves with `done`. */
  close(): void;
}

export interface ReadAndSubscribeResult {
  /** The stream's count at the cut. */
  readonly count: number;
  /** Every event of the stream up to the cut. */
  readonly history: Event[];
  /** Every event of the stream after the cut (and its transient events). */
  readonly live: Subscription<Event | TransientEvent>;
}

export interface StreamInfo {
  readonly stream: string;
  readonly count: number;
}

/** The one interface, embedded (`open`) or remote (`connect`), streams' lifecycles included. */
export interface EventLog extends StreamLifecycle {
  append(stream: string, events: EventInput | EventInput[], options?: AppendOptions): Promise<AppendResult>;
  existsOrWrite(stream: string, index: number, event: EventInput): Promise<ExistsOrWriteResult>;
  appendMany(appends: StreamAppend[], options?: { ack?: AckMode; signal?: AbortSignal }): Promise<AppendManyResult>;
  read(stream: string, options?: ReadOptions): AsyncIterable<Event>;
  readAll(options?: ReadAllOptions): AsyncIterable<Event>;
  subscribe(options?: SubscribeOptions): Subscription<Event | TransientEvent>;
  readAndSubscribe(stream: string, options?: { signal?: AbortSignal }): Promise<ReadAndSubscribeResult>;
  publishTransient(stream: string, event: Omit<EventInput, 'metadata'>): Promise<void>;
  /** The stream's committed count (0 for a stream never written). */
  count(stream: string): Promise<number>;
  /** The high-water mark: the last committed position, -1 for an empty log. */
  headPosition(): Promise<number>;
  streams(options?: { prefix?: string; limit?: number }): AsyncIterable<StreamInfo>;
  close(): Promise<void>;
}

/**
 * What a remote log offers beyond `EventLog`: a word after each reconnect. Subscriptions resume
 * by themselves; a pattern that must notice a log that was replaced behind its address (its
 * position no longer exists) checks the head then (see patterns/model.ts).
 */
export interface Reconnects {
  onReconnect(listener: () => void): () => void;
}

export function hasReconnects(log: EventLog): log is EventLog & Reconnects {
  return typeof (log as Partial<Reconnects>).onReconnect === 'function';
}
