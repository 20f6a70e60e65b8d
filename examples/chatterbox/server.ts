import { pino } from 'pino';
import { startServer, type OrdoServer } from '../../src/index.js';
import { roomModel } from './room.js';

/** The chat server is an Ordo server that hosts the rooms' models (their snapshots stay fresh). */
export function startChatServer(options: {
  dir: string;
  port?: number | undefined;
  httpPort?: number | undefined;
  rooms?: string[];
}): Promise<OrdoServer> {
  return startServer({
    dir: options.dir,
    port: options.port ?? 4690,
    httpPort: options.httpPort ?? 4691,
    logger: pino({ level: 'warn' }),
    models: (options.rooms ?? ['lobby']).map((room) => roomModel(room)),
  });
}
