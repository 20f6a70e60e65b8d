import type { Frame } from '../protocol/frame.js';

/**
 * What a connection hands its frames to once HELLO has said who is on the other end: a client
 * (BinarySession) or another node of the cluster (PeerSession).
 */
export interface ConnectionSession {
  /** Requests taken but not answered yet (the connection stops reading above its limit). */
  readonly inFlight: number;
  onFrame(frame: Frame): void;
  /** Every frame of one received chunk has been handed over. */
  chunkDone(): void;
  /** The chunk failed to decode: forget what it queued. */
  discardQueued(): void;
  /** Graceful shutdown: end subscriptions; resolves once in-flight requests are answered (or after `timeoutMs`). */
  drain(timeoutMs: number): Promise<void> | undefined;
  /** The connection failed: stop subscriptions without telling the client. */
  stop(): void;
  /** The wire closed (client gone). */
  closed(): void;
  /** The wire's outgoing buffer drained after a congestion. */
  drained(): void;
}
