import { open } from '../../src/node/index.js';
import type { EventLog } from '../../src/types/index.js';
import { connectOwning, startTestServer } from '../support/server.js';
import { tempDir } from '../support/temp-dir.js';

/** Where a pattern runs: the embedded log and a client of a real server, with the same tests. */
export const TARGETS: ReadonlyArray<{ name: string; make: () => Promise<EventLog> }> = [
  { name: 'embedded', make: async () => open(await tempDir('ordo-pattern')) },
  { name: 'remote', make: async () => connectOwning(await startTestServer(), 'tcp') },
];
