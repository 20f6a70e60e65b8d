import type { OpenOptions } from '../../src/node/index.js';
import { connectOwning, startTestServer } from '../support/server.js';
import { eventLogConformance } from './event-log-suite.js';
import { lifecycleConformance } from './lifecycle-suite.js';

// The same suites as the embedded log, through connect() to a real server, on both transports.
for (const transport of ['tcp', 'ws'] as const) {
  const make = async (options?: OpenOptions) => connectOwning(await startTestServer({ log: options }), transport);
  eventLogConformance(`EventLog (remote, ${transport})`, make);
  lifecycleConformance(`EventLog (remote, ${transport})`, make);
}
