/**
 * Ordo: one log, many streams, one order that every reader sees.
 * `open(dir)` gives the embedded `EventLog`; `ordo/stream` is the in-process EventStream.
 */
export { open, EmbeddedEventLog, type OpenOptions, type OpenReport } from './node/index.js';
export * from './types/index.js';
export { eventJson } from './types/json.js';
export { verifyLog, type VerifyReport } from './node/verify.js';
