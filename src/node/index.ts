export { open, EmbeddedEventLog, type OpenReport, type LogMetrics } from './embedded-log.js';
export type { OpenOptions } from './options.js';
export { LogSubscription } from './subscription.js';
