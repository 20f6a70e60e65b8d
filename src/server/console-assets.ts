import { readFile, readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build` puts the bundled web console (scripts/build-console.mjs): dist/console. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

export interface ConsoleAsset {
  body: Buffer;
  contentType: string;
}

/**
 * The console's files, read once: only the names the build wrote are served (no path from the
 * request ever reaches the file system). Undefined when the console was not built.
 */
export async function loadConsoleAssets(dir = CONSOLE_DIR): Promise<Map<string, ConsoleAsset> | undefined> {
  const names = await readdir(dir).catch(() => undefined);
  if (!names) return undefined;
  const assets = new Map<string, ConsoleAsset>();
  for (const name of names) {
    const contentType = CONTENT_TYPES[extname(name)];
    if (contentType) assets.set(name, { body: await readFile(join(dir, name)), contentType });
  }
  return assets.has('index.html') ? assets : undefined;
}
