import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy that can lose answers: while `dropAnswers` is set, the first bytes the
 * server sends back on a connection are swallowed and that connection is cut. The request got
 * through and was processed; the client never hears the answer: a lost ack.
 */
export class CuttingProxy {
  dropAnswers = false;
  /** Swallows every answer but keeps the connection: a server that hangs. */
  swallowAnswers = false;
  cuts = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(private targetPort: number) {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      let handshakeDone = false;
      client.on('data', (chunk) => upstream.write(chunk));
      upstream.on('data', (chunk) => {
        // The first answer is the handshake's WELCOME: always let it through.
        if (handshakeDone && this.swallowAnswers) return;
        if (handshakeDone && this.dropAnswers) {
          this.dropAnswers = false;
          this.cuts++;
          client.destroy();
          upstream.destroy();
          return;
        }
        handshakeDone = true;
        client.write(chunk);
      });
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
  }

  static async start(targetUrl: string): Promise<CuttingProxy> {
    const proxy = new CuttingProxy(Number(new URL(targetUrl).port));
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    const address = this.server.address();
    return `ordo://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  /** Cuts every open connection (clients reconnect through the proxy). */
  cutAll(): void {
    this.cuts++;
    for (const socket of this.sockets) socket.destroy();
  }

  /** New connections go to another server (open ones are cut): a server replaced behind its address. */
  retarget(url: string): void {
    this.targetPort = Number(new URL(url).port);
    this.cutAll();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
