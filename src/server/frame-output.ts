import { ByteWriter } from '../protocol/bytes.js';
import type { Wire } from './wire.js';

/** Writes one answer (or any frame) into the connection's outgoing buffer. */
export type Answer = (writer: ByteWriter) => void;

/**
 * A connection's outgoing frames: everything written in one event-loop turn is coalesced into
 * one write to the wire. Once closed, frames are dropped (the connection is ending or gone).
 */
export class FrameOutput {
  private readonly out = new ByteWriter();
  private flushScheduled = false;
  private isClosed = false;
  /** Told after a write left more than `maxBufferedBytes` unsent: the peer does not read. */
  onCongested: (() => void) | undefined;

  constructor(
    private readonly wire: Wire,
    private readonly maxBufferedBytes: number,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  /** Bytes written into this turn's buffer, not yet handed to the wire. */
  get pendingBytes(): number {
    return this.out.length;
  }

  /** Writes a frame into this turn's buffer; the buffer goes out in one write at the turn's end. */
  send(write: Answer): void {
    if (this.isClosed) return;
    write(this.out);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After this macrotask and its promise chains: answers made in one turn leave in one write.
      process.nextTick(this.flushSoon);
    }
  }

  flush(): void {
    if (this.out.length === 0 || this.isClosed) return;
    this.wire.write(this.out.take());
    if (this.wire.bufferedBytes > this.maxBufferedBytes) this.onCongested?.();
  }

  /** No frame goes out from now on. */
  close(): void {
    this.isClosed = true;
  }

  private readonly flushSoon = (): void => {
    this.flushScheduled = false;
    this.flush();
  };
}
