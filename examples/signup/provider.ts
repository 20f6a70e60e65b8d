import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake e-mail provider on loopback, for the Mail consumer to call: it fails at random
 * (`failRate`), can be switched off (every call fails), and records what it delivered by the
 * caller's idempotency key, so a test can see every account mailed and count repeats.
 */
export interface FakeProvider {
  url: string;
  enabled: boolean;
  failRate: number;
  /** Idempotency key → deliveries (at least once: a retry after a lost answer delivers again). */
  readonly delivered: Map<string, number>;
  close(): Promise<void>;
}

export async function startFakeProvider(options: { failRate?: number; seed?: number } = {}): Promise<FakeProvider> {
  let seed = options.seed ?? 1;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const delivered = new Map<string, number>();
  const provider = { enabled: true, failRate: options.failRate ?? 0.1, delivered } as FakeProvider;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (!provider.enabled) return void res.writeHead(503).end('switched off');
      if (random() < provider.failRate) return void res.writeHead(500).end('random failure');
      const { key } = JSON.parse(body) as { key: string };
      delivered.set(key, (delivered.get(key) ?? 0) + 1);
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  provider.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/send`;
  provider.close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return provider;
}
