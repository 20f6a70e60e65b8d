import type { Socket } from 'node:net';
import type { BinaryConnection } from './binary-connection.js';
import type { ServerMetrics } from './metrics.js';

/** How often the shutdown looks whether the last sockets have closed. */
const LINGER_POLL_MS = 10;

/** The server's open binary-protocol connections and sockets, counted in metrics and ended at shutdown. */
export class OpenConnections {
  private readonly connections = new Set<BinaryConnection>();
  private readonly sockets = new Set<Socket>();

  constructor(private readonly metrics: ServerMetrics) {}

  /** Counts a new connection; returns what to call (once or more) when its wire closes. */
  serve(connection: BinaryConnection, transport: 'tcp' | 'ws'): () => void {
    this.connections.add(connection);
    this.metrics.connectionOpened(transport);
    return () => {
      if (!this.connections.delete(connection)) return;
      connection.closed();
      this.metrics.connectionClosed(transport);
    };
  }

  /** Tracks a socket until it closes, so the shutdown can cut the ones that linger. */
  track(socket: Socket): void {
    this.sockets.add(socket);
  }

  untrack(socket: Socket): void {
    this.sockets.delete(socket);
  }

  /** Graceful shutdown of every binary connection, each given `graceMs` for its in-flight requests. */
  async shutdown(graceMs: number): Promise<void> {
    await Promise.all([...this.connections].map((connection) => connection.shutdown(graceMs)));
  }

  /** Gives the sockets `lingerMs` to send their last bytes and close, then destroys the rest. */
  async cutLingering(lingerMs: number): Promise<void> {
    const deadline = Date.now() + lingerMs;
    while (this.sockets.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, LINGER_POLL_MS));
    }
    for (const socket of this.sockets) socket.destroy();
  }
}
