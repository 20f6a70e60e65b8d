import type { NodeSubscription, RawRecords } from '../node/index.js';
import type { ByteWriter } from '../protocol/bytes.js';
import { RECORD_HEADER_BYTES } from '../protocol/events.js';
import {
  writeError,
  writeEvents,
  writeStoredEvents,
  writeSubscriptionEnd,
  writeTransientFrame,
} from '../protocol/responses.js';
import type { Event, TransientEvent } from '../types/event.js';
import { CorruptLogError, PositionTrimmedError } from '../types/errors.js';

/** Events one wake-up of a pump takes from the log at most. */
const MAX_EVENTS_PER_WAKE_UP = 4096;
/** An EVENTS frame is closed once its events' bytes pass this (the frame limit is far above). */
export const EVENTS_FRAME_TARGET_BYTES = 1024 * 1024;
/** A raw catch-up hands over to the log's own subscription this close to the head (in events). */
const RAW_HANDOVER_EVENTS = MAX_EVENTS_PER_WAKE_UP;

/**
 * Catch-up of an unfiltered subscription straight from the segments: records go out as stored,
 * none decoded or re-encoded. Near the head the log's subscription takes over (live tail).
 */
export interface RawCatchUp {
  /** The next position to send. */
  next: number;
  read(from: number, maxBytes: number, maxEvents: number): Promise<RawRecords>;
  committed(): number;
  subscribeFrom(from: number): NodeSubscription;
}

/** What a pump needs from its connection. */
export interface PumpOutput {
  send(write: (writer: ByteWriter) => void): void;
  /** True while the connection's unsent bytes are above its limit. */
  congested(): boolean;
  drained(): Promise<void>;
}

/**
 * Moves one subscription's events from the log to a client, within the credit the client gave
 * (credit-based flow control, counted in events): a slow client stops its own pump, never the
 * log and never other clients. The log's subscription itself falls back to disk if it lags,
 * so a stalled pump pins no memory.
 */
export class SubscriptionPump {
  private credit: number;
  private running = false;
  private stopped = false;
  private readonly items: Array<Event | TransientEvent> = [];

  constructor(
    readonly id: number,
    private subscription: NodeSubscription | undefined,
    initialCredit: number,
    private readonly output: PumpOutput,
    private readonly onEnd: (pump: SubscriptionPump) => void,
    private raw?: RawCatchUp,
  ) {
    this.credit = initialCredit;
  }

  /** Tells the client where the subscription starts (so it can resume from there), then pumps. */
  start(): void {
    const next = this.raw ? this.raw.next : this.subscription!.position + 1;
    this.output.send((w) => writeEvents(w, this.id, 0, next, []));
    void this.run();
  }

  addCredit(events: number): void {
    this.credit += events;
    if (!this.running && !this.stopped) void this.run();
  }

  /** Ends the subscription without telling the client (it unsubscribed, or the connection is gone). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.subscription?.close();
    this.onEnd(this);
  }

  /** Ends the subscription and tells the client (graceful shutdown: it resumes elsewhere). */
  end(): void {
    if (this.stopped) return;
    this.output.send((w) => writeSubscriptionEnd(w, this.id));
    this.stop();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (!this.stopped && this.credit > 0) {
        if (this.output.congested()) {
          await this.output.drained();
          continue;
        }
        if (this.raw) {
          await this.catchUpRaw(this.raw);
          continue;
        }
        const subscription = this.subscription!;
        const items = this.items;
        items.length = 0;
        const max = Math.min(this.credit, MAX_EVENTS_PER_WAKE_UP);
        if (subscription.takeReady(items, max) === 0) {
          const result = await subscription.next();
          if (this.stopped) return;
          if (result.done) {
            this.end();
            return;
          }
          items.push(result.value);
          subscription.takeReady(items, max - 1);
        }
        this.credit -= items.length;
        this.sendItems(items);
      }
    } catch (error) {
      if (error instanceof CorruptLogError || error instanceof PositionTrimmedError) {
        // Subscribing again would reach the same damaged batch, or the same removed position:
        // the client gets the error instead.
        if (!this.stopped) this.output.send((w) => writeError(w, this.id, error));
        this.stop();
        return;
      }
      // The log failed under the subscription (closed, storage error): the client resumes.
      this.end();
    } finally {
      this.running = false;
    }
  }

  private async catchUpRaw(raw: RawCatchUp): Promise<void> {
    if (raw.next > raw.committed() - RAW_HANDOVER_EVENTS) {
      this.handOver(raw);
      return;
    }
    const records = await raw.read(raw.next, EVENTS_FRAME_TARGET_BYTES, Math.min(this.credit, MAX_EVENTS_PER_WAKE_UP));
    if (this.stopped) return;
    if (records.count === 0) {
      raw.next = Math.max(raw.next, records.last + 1); // past records the metadata hides
      this.handOver(raw);
      return;
    }
    raw.next = records.last + 1;
    this.credit -= records.count;
    this.output.send((w) => writeStoredEvents(w, this.id, 0, raw.next, records));
  }

  private handOver(raw: RawCatchUp): void {
    this.subscription = raw.subscribeFrom(raw.next);
    this.raw = undefined;
  }

  private sendItems(items: ReadonlyArray<Event | TransientEvent>): void {
    let run: Event[] = [];
    let bytes = 0;
    const flush = (last: boolean) => {
      if (run.length === 0) return;
      const events = run;
      const next = last ? this.subscription!.position + 1 : events[events.length - 1]!.position + 1;
      this.output.send((w) => writeEvents(w, this.id, 0, next, events));
      run = [];
      bytes = 0;
    };
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if ('transient' in item) {
        flush(false);
        this.output.send((w) => writeTransientFrame(w, this.id, item));
        continue;
      }
      run.push(item);
      bytes += estimatedFrameBytes(item);
      if (bytes >= EVENTS_FRAME_TARGET_BYTES) flush(i === items.length - 1);
    }
    flush(true);
  }
}

/**
 * Metadata is an object here, encoded only when the frame is written; measuring it would encode
 * it twice. A frame need only land near its target size, so metadata counts as this much.
 */
const METADATA_ESTIMATE_BYTES = 64;

/** About what `event` adds to an EVENTS frame (UTF-16 lengths stand in for UTF-8 ones). */
function estimatedFrameBytes(event: Event): number {
  const metadata = event.metadata === undefined ? 0 : METADATA_ESTIMATE_BYTES;
  return RECORD_HEADER_BYTES + event.stream.length + event.type.length + metadata + event.data.byteLength;
}
