export { open, EmbeddedEventLog, type OpenReport } from './embedded-log.js';
export type { OpenOptions } from './options.js';
export { LogSubscription } from './subscription.js';
