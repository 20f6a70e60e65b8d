import { pino } from 'pino';
import { connect, type NodeConnectOptions } from '../../src/client/index.js';
import type { RemoteEventLog } from '../../src/client/remote-log.js';
import type { OpenOptions } from '../../src/node/index.js';
import { startServer, type OrdoServer, type ServerOptions } from '../../src/server/server.js';
import { tempDir } from './temp-dir.js';

/** A real server on loopback with free ports, silent logs, in a fresh directory. */
export async function startTestServer(
  options: Partial<ServerOptions> & { log?: OpenOptions | undefined } = {},
): Promise<OrdoServer> {
  return startServer({
    dir: options.dir ?? (await tempDir()),
    port: 0,
    httpPort: 0,
    logger: pino({ level: 'silent' }),
    ...options,
  });
}

/** A client of `server` whose `close()` also shuts the server down. */
export async function connectOwning(
  server: OrdoServer,
  transport: 'tcp' | 'ws',
  options: NodeConnectOptions = {},
): Promise<RemoteEventLog> {
  const client = await connect(transport === 'tcp' ? server.urls.tcp : server.urls.ws, options);
  const closeClient = client.close.bind(client);
  client.close = async () => {
    await closeClient();
    await server.close();
  };
  return client;
}
