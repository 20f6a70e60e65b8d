/**
 * Ordo: one log, many streams, one order that every reader sees.
 * `open(dir)` gives the embedded `EventLog`, `connect(url)` the same interface on a server;
 * `startServer` serves a directory; `ordo/client` is the browser client; `ordo/stream` is the
 * in-process EventStream.
 */
export {
  open,
  EmbeddedEventLog,
  type OpenOptions,
  type OpenReport,
  type OrdoNode,
  type NodeEnvironment,
} from './node/index.js';
export { connect, RemoteEventLog, type ConnectOptions, type NodeConnectOptions } from './client/index.js';
export { startServer, type OrdoServer, type ServerOptions } from './server/server.js';
export { loadAuthFile, tokenAuthenticator, type Scope } from './server/auth.js';
export * from './types/index.js';
export { eventJson } from './types/json.js';
export { verifyLog, type VerifyReport } from './node/index.js';
export * from './patterns/index.js';
