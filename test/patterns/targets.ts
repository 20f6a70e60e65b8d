import { open } from '../../src/node/index.js';
import { connect } from '../../src/client/index.js';
import type { EventLog } from '../../src/types/index.js';
import { startTestServer } from '../support/server.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * One log to run a pattern against: `log` is the first handle; `another()` opens one more
 * (embedded: the same directory, after the previous handle closed; remote: one more client
 * of the same server); `close()` ends everything.
 */
export interface Target {
  log: EventLog;
  another(): Promise<EventLog>;
  /** A handle to use alongside `log` (embedded: the same object, a directory opens once; remote: another client). */
  alongside(): Promise<EventLog>;
  close(): Promise<void>;
}

/** Where a pattern runs: the embedded log and clients of a real server, with the same tests. */
export const TARGETS: ReadonlyArray<{ name: string; make: () => Promise<Target> }> = [
  {
    name: 'embedded',
    make: async () => {
      const dir = await tempDir('ordo-pattern');
      const handles: EventLog[] = [await open(dir)];
      return {
        log: handles[0]!,
        alongside: async () => handles[0]!,
        another: async () => {
          const log = await open(dir);
          handles.push(log);
          return log;
        },
        close: async () => {
          for (const log of new Set(handles)) await log.close();
        },
      };
    },
  },
  {
    name: 'remote',
    make: async () => {
      const server = await startTestServer();
      const handles: EventLog[] = [await connect(server.urls.tcp)];
      return {
        log: handles[0]!,
        another: async () => {
          const log = await connect(server.urls.tcp);
          handles.push(log);
          return log;
        },
        alongside: async () => {
          const log = await connect(server.urls.tcp);
          handles.push(log);
          return log;
        },
        close: async () => {
          for (const log of handles) await log.close();
          await server.close();
        },
      };
    },
  },
];
