import { connectOwning, startTestServer } from '../support/server.js';
import { eventLogConformance } from './event-log-suite.js';

// The same suite as the embedded log, through connect() to a real server, on both transports.
for (const transport of ['tcp', 'ws'] as const) {
  eventLogConformance(`EventLog (remote, ${transport})`, async (options) =>
    connectOwning(await startTestServer({ log: options }), transport),
  );
}
