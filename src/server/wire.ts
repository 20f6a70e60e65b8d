/**
 * One client connection as the binary protocol sees it, whatever carries it (TCP, TLS or
 * WebSocket): bytes in, bytes out, and backpressure both ways.
 */
export interface Wire {
  readonly transport: 'tcp' | 'ws';
  /** `address:port` of the peer, for logs. */
  readonly remote: string;
  write(bytes: Uint8Array): void;
  /** Bytes written but not yet handed to the kernel. */
  readonly bufferedBytes: number;
  /** Stop / restart delivering received bytes (backpressure on a client that sends too much). */
  pause(): void;
  resume(): void;
  /** Calls `listener` once when the outgoing buffer has drained. */
  onceDrained(listener: () => void): void;
  /** Closes after what was written is sent. */
  end(): void;
  /** Closes now. */
  destroy(): void;
}
