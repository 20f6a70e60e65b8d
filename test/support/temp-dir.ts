import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/** A fresh directory removed when the test file finishes. */
export async function tempDir(label = 'ordo-test'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${label}-`));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
