import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * What a link does to the bytes one node sends another: pass them, hold them back, swallow
 * them (a partition: the sender's TCP sees nothing wrong, its messages just never arrive), or
 * reset every connection.
 */
export type LinkMode = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'blackhole' } | { kind: 'reset' };

/**
 * A TCP proxy for one direction of one pair of nodes (node A's connection to node B carries only
 * A's messages: Ordo's peers answer over their own connection), so a cut of one proxy is a
 * one-way partition. Listens on loopback; forwards to `target`.
 */
export class FaultProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  mode: LinkMode = { kind: 'pass' };
  /** The port it listens on (after `listen`). */
  port = 0;

  constructor(
    readonly name: string,
    private readonly target: { host: string; port: number },
  ) {}

  /** Starts listening; resolves with the port. */
  async listen(port = 0): Promise<number> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  set(mode: LinkMode): void {
    this.mode = mode;
    if (mode.kind === 'reset' || mode.kind === 'blackhole') {
      // Whatever is in flight on the old connections is gone too.
      for (const socket of this.sockets) socket.destroy();
    }
  }

  private accept(client: Socket): void {
    if (this.mode.kind === 'reset') {
      client.destroy();
      return;
    }
    this.sockets.add(client);
    const upstream = connect(this.target.port, this.target.host);
    this.sockets.add(upstream);
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    // Both directions go through the mode (the answer direction carries only the handshake).
    const forward = (from: Socket, to: Socket) => {
      // Bytes leave in the order they came, even when a delay ends: a chunk never overtakes one held back.
      let releaseAt = 0;
      from.on('data', (chunk: Buffer) => {
        const mode = this.mode;
        if (mode.kind === 'reset') return close();
        if (mode.kind === 'blackhole') return; // swallowed
        const now = Date.now();
        const at = Math.max(now + (mode.kind === 'delay' ? mode.ms : 0), releaseAt);
        if (at <= now) {
          to.write(chunk);
          return;
        }
        releaseAt = at;
        setTimeout(() => to.writable && to.write(chunk), at - now);
      });
    };
    forward(client, upstream);
    forward(upstream, client);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
